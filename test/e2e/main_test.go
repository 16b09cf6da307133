// Package e2e runs the operator end to end on the local kwok cluster with the EMQX simulator:
// one cluster per package run, a namespace per test. Run it with `make test-e2e`.
package e2e

import (
	"os"
	"testing"

	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.RunSuite(m, "e2e", harness.Config{}, &env))
}
