// Package e2e runs the operator end to end on the local kwok cluster with the EMQX simulator:
// one cluster per package run, a namespace per test. Run it with `make test-e2e`.
package e2e

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
	// Every secret value any Secret held during the run must stay out of the operator's logs, its
	// Events and the resources' status and annotations.
	leaks, err := env.WatchForLeaks()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e leak watch:", err)
		return 1
	}
	code := m.Run()
	seen, found, err := leaks.Check(env.LogDir())
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "e2e leak check:", err)
		code = 1
	case len(found) > 0:
		fmt.Fprintf(os.Stderr, "e2e leak check: FAIL, of %d secret values:\n  %s\n", seen, strings.Join(found, "\n  "))
		code = 1
	default:
		fmt.Fprintf(os.Stderr, "e2e leak check: none of %d secret values appears in the operator's or its Jobs' logs, Events, status or annotations\n", seen)
	}
	env.Stop()
	if err := env.CheckPeakAgainstShipped(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e memory:", err)
		code = 1
	}
	fmt.Fprintf(os.Stderr, "e2e suite took %s\n", time.Since(start).Round(time.Second))
	return code
}
