package harness

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RunSuite is a suite's TestMain body for suites that run the operator: it brings the environment
// up (set into *env for the tests), runs the tests with the secret-leak watch on, tears it all down
// — on Ctrl-C or a CI time-out too, so no cluster process outlives the run — and fails the suite
// when a secret leaked or the operator's peak memory passed the shipped request. name prefixes
// what it prints. It returns the exit code.
func RunSuite(m *testing.M, name string, cfg Config, env **Env) int {
	start := time.Now()
	e, err := Start(cfg)
	*env = e
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		if e != nil {
			e.Stop()
		}
		os.Exit(2)
	}()
	if e != nil {
		defer e.Stop()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s environment: %v\n", name, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "%s environment up in %s (logs in %s)\n", name, time.Since(start).Round(time.Millisecond), e.LogDir())
	// Every secret value any Secret held during the run must stay out of the operator's logs, its
	// Events and the resources' status and annotations.
	leaks, err := e.WatchForLeaks()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s leak watch: %v\n", name, err)
		return 1
	}
	code := m.Run()
	seen, found, err := leaks.Check(e.LogDir())
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s leak check: %v\n", name, err)
		code = 1
	case len(found) > 0:
		fmt.Fprintf(os.Stderr, "%s leak check: FAIL, of %d secret values:\n  %s\n", name, seen, strings.Join(found, "\n  "))
		code = 1
	default:
		fmt.Fprintf(os.Stderr, "%s leak check: none of %d secret values appears in the operator's or its Jobs' logs, Events, status or annotations\n", name, seen)
	}
	e.Stop()
	if err := e.CheckPeakAgainstShipped(); err != nil {
		fmt.Fprintf(os.Stderr, "%s memory: %v\n", name, err)
		code = 1
	}
	fmt.Fprintf(os.Stderr, "%s suite took %s\n", name, time.Since(start).Round(time.Second))
	return code
}
