// Package chaose2e runs the chaos harness (test/chaos) on the local kwok cluster with the EMQX
// simulator: a seeded sequence of user actions and faults over several clusters, invariants
// sampled against the API server's and the simulator's view. `make test` runs a fixed seed for at
// most four minutes; `make chaos` is the soak (docs/chaos.md).
package chaose2e

import (
	"os"
	"testing"

	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.RunSuite(m, "chaos", harness.Config{ClusterName: "chaos"}, &env))
}
