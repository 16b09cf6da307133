// Package benchscale is `make bench-scale`: a fleet of EMQX clusters brought up on the local
// cluster twice, side by side — once by applying what the operator renders (`manager render`,
// the bare control plane's pace) and once by the operator from EMQX resources — with the figures
// docs/bench-scale.md explains: convergence and its ratio to bare, the operator's CPU and API
// requests while converging and idle, EMQX API reads per cluster, reconciles per kind, peak RSS
// and the control plane's own CPU. Not part of `make test`: it runs for a long time.
package benchscale

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/fleetbench"
)

var (
	env  *harness.Env
	plan benchPlan
	// auditLog is kube-apiserver's audit log (fleetbench.AuditPolicy): the operator's uncached reads.
	auditLog string
)

const (
	clusterName = "bench"
	// simTimeScale is the measurement's: EMQX boots five times faster than it would.
	simTimeScale = 0.2
)

// benchPlan is what one invocation measures (the Makefile's N, RUNS, IDLE).
type benchPlan struct {
	Sizes []int
	Runs  int
	Idle  time.Duration
	// Settle is left after the last cluster is Ready before the idle window opens: the last
	// passes' status writes belong to the convergence, not to the idle.
	Settle time.Duration
	Cores  int
	Out    string
}

func TestMain(m *testing.M) {
	var err error
	if plan, err = readPlan(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
	largest := 0
	for _, n := range plan.Sizes {
		largest = max(largest, n)
	}
	// The local cluster sized for the largest fleet (hack/cluster.sh reads these): 200 pods per
	// fake node (its pod IPs are a /24), one node spare, and a Service range for every cluster's
	// Services (the default /24 holds about 125 clusters).
	pods := largest * plan.Cores
	auditDir, err := os.MkdirTemp("", "bench-scale-audit-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
	defer os.RemoveAll(auditDir)
	policy := filepath.Join(auditDir, "policy.yaml")
	auditLog = filepath.Join(auditDir, "audit.log")
	if err := os.WriteFile(policy, []byte(fleetbench.AuditPolicy), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
	for k, v := range map[string]string{"NODES": strconv.Itoa(max(pods/200+2, 3)), "MAX_PODS": "250", "SERVICE_CIDR": "10.96.0.0/16",
		"AUDIT_POLICY": policy, "AUDIT_LOG": auditLog} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, "bench-scale:", err)
			os.Exit(2)
		}
	}
	// Ctrl-C (or make's) stops the local cluster, also while it is starting.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	started := make(chan struct{})
	go func() {
		<-sig
		<-started
		if env != nil {
			env.Stop()
		}
		os.RemoveAll(auditDir)
		os.Exit(2)
	}()
	start := time.Now()
	// Fresh: a cluster left by an earlier run may be sized for another N.
	env, err = harness.Start(harness.Config{ClusterName: clusterName, NoOperator: true, TimeScale: simTimeScale, Fresh: true})
	close(started)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale environment:", err)
		if env != nil {
			env.Stop()
		}
		os.RemoveAll(auditDir)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench-scale: local cluster up in %s (logs in %s)\n", time.Since(start).Round(time.Second), env.LogDir())
	code := m.Run()
	env.Stop()
	os.RemoveAll(auditDir)
	os.Exit(code)
}

func readPlan() (benchPlan, error) {
	p := benchPlan{Runs: 3, Idle: 180 * time.Second, Settle: 15 * time.Second, Cores: 3, Out: os.Getenv("BENCH_OUT")}
	sizes := os.Getenv("BENCH_SIZES")
	if sizes == "" {
		sizes = "100,500"
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return p, fmt.Errorf("N=%q: want cluster counts separated by commas, such as 100,500", sizes)
		}
		p.Sizes = append(p.Sizes, n)
	}
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return p, fmt.Errorf("RUNS=%q: want a positive number", v)
		}
		p.Runs = n
	}
	for name, d := range map[string]*time.Duration{"BENCH_IDLE": &p.Idle, "BENCH_SETTLE": &p.Settle} {
		if v := os.Getenv(name); v != "" {
			parsed, err := time.ParseDuration(v)
			// An idle window of zero would scale a few milliseconds up to 180 s.
			if err != nil || parsed < 0 || name == "BENCH_IDLE" && parsed < 10*time.Second {
				return p, fmt.Errorf("%s=%q: want a duration such as 180s (IDLE at least 10s)", strings.TrimPrefix(name, "BENCH_"), v)
			}
			*d = parsed
		}
	}
	if p.Out == "" {
		p.Out = ".work/bench-scale"
	}
	return p, nil
}
