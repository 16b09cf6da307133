// Package e2e runs the operator end to end on the local kwok cluster with the EMQX simulator:
// one cluster per package run, a namespace per test. Run it with `make test-e2e`.
package e2e

import (
	"fmt"
	"os"
	"os/signal"
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
	env, err = harness.Start(harness.Config{})
	// Tear down on Ctrl-C or a CI time-out too, so no cluster process outlives the run.
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
		fmt.Fprintln(os.Stderr, "e2e environment:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e environment up in %s (logs in %s)\n", time.Since(start).Round(time.Millisecond), env.LogDir())
	code := m.Run()
	fmt.Fprintf(os.Stderr, "e2e suite took %s\n", time.Since(start).Round(time.Second))
	return code
}
