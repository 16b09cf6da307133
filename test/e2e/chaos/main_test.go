// Package chaose2e runs the chaos harness (test/chaos) on the local kwok cluster with the EMQX
// simulator: a seeded sequence of user actions and faults over several clusters, invariants
// sampled against the API server's and the simulator's view. `make test` runs a fixed seed for at
// most four minutes; `make chaos` is the soak (docs/chaos.md).
package chaose2e

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	var err error
	env, err = harness.Start(harness.Config{ClusterName: "chaos"})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		if env != nil {
			env.Stop()
		}
		os.Exit(2)
	}()
	if env != nil {
		defer env.Stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos environment:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "chaos environment up in %s (logs in %s)\n", time.Since(start).Round(time.Millisecond), env.LogDir())
	// Faults or not, no secret value reaches a log, an Event, a status or an annotation.
	leaks, err := env.WatchForLeaks()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos leak watch:", err)
		return 1
	}
	code := m.Run()
	seen, found, err := leaks.Check(env.LogDir())
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "chaos leak check:", err)
		code = 1
	case len(found) > 0:
		fmt.Fprintf(os.Stderr, "chaos leak check: FAIL, of %d secret values:\n  %s\n", seen, strings.Join(found, "\n  "))
		code = 1
	default:
		fmt.Fprintf(os.Stderr, "chaos leak check: none of %d secret values leaked\n", seen)
	}
	env.Stop()
	if err := env.CheckPeakAgainstShipped(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos memory:", err)
		code = 1
	}
	fmt.Fprintf(os.Stderr, "chaos suite took %s\n", time.Since(start).Round(time.Second))
	return code
}
