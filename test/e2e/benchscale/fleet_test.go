package benchscale

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/fleetbench"
)

// operatorArgs: production defaults, except what a benchmark on loopback needs (no leader
// election, plain-HTTP metrics to scrape) and the client-side limiter off (the setting:
// the API server's own fairness is the limit).
func operatorArgs(metricsAddr, pprofAddr string) []string {
	return []string{"--leader-elect=false", "--metrics-bind-address=" + metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:0", "--kube-api-qps=-1", "--pprof-bind-address=" + pprofAddr}
}

// operatorUserAgent starts client-go's user agent for bin/manager: the binary's name and a slash.
const operatorUserAgent = "manager/"

func TestFleetScale(t *testing.T) {
	cl := fastClient(t)
	var runs []fleetbench.Run
	started := time.Now()
	for _, n := range plan.Sizes {
		for i := 1; i <= plan.Runs; i++ {
			r := fleetbench.Run{Size: n, Run: i}
			// The two sides take turns going first: what one leaves behind (etcd's history, the
			// deleted namespace's last objects) does not always weigh on the same side.
			if i%2 == 1 {
				r.Bare = runBare(t, cl, n, i)
				r.Operator = runOperator(t, cl, n, i)
			} else {
				r.Operator = runOperator(t, cl, n, i)
				r.Bare = runBare(t, cl, n, i)
			}
			t.Logf("N=%d run %d: bare %.1f s, operator %.1f s (%.2f×), operator CPU %.1f s to converge, %.2f s idle",
				n, i, r.Bare.ConvergeSeconds, r.Operator.ConvergeSeconds, r.Operator.ConvergeSeconds/r.Bare.ConvergeSeconds,
				r.Operator.Converge.CPUSeconds, r.Operator.Idle.CPUSeconds)
			runs = append(runs, r)
			// Written after every run: a long invocation cut short keeps what it measured.
			writeReport(t, runs, started)
		}
	}
	fmt.Println(report(runs, started).Markdown())
}

// runBare applies what `manager render` prints for the fleet, and times every pod Ready.
func runBare(t *testing.T, cl client.Client, n, run int) fleetbench.BareRun {
	ns := fmt.Sprintf("bench-bare-%d-%d", n, run)
	createNamespace(t, cl, ns)
	defer deleteNamespace(t, cl, ns)
	crs := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(crs, []byte(fleetYAML(ns, n)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(filepath.Join(env.RepoRoot(), "bin", "manager"), "render", "-f", crs, "-n", ns)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("manager render: %v\n%s", err, errOut.String())
	}
	fleet := renderedFleet(t, out.Bytes())
	if len(fleet) != n {
		t.Fatalf("manager render printed objects of %d clusters, want %d", len(fleet), n)
	}
	watch := watchReady(t, ns, &corev1.Pod{}, n*plan.Cores, podReady)
	defer watch.stop()

	cp0 := controlPlaneCPU(t)
	start := time.Now()
	applyAll(t, cl, fleet)
	readyAt := watch.wait(t, "bare pods")
	return fleetbench.BareRun{ConvergeSeconds: readyAt.Sub(start).Seconds(), ControlPlaneCPU: controlPlaneCPU(t) - cp0}
}

// runOperator starts an operator of its own, applies the fleet's EMQX resources and times every
// resource Ready, then leaves the fleet idle.
func runOperator(t *testing.T, cl client.Client, n, run int) (r fleetbench.OperatorRun) {
	ns := fmt.Sprintf("bench-operator-%d-%d", n, run)
	createNamespace(t, cl, ns)
	addr, err := harness.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr, err := harness.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	mgrStart := time.Now()
	mgr, err := env.StartManager(fmt.Sprintf("operator-%d-%d", n, run), []string{"KUBECONFIG=" + env.Kubeconfig}, operatorArgs(addr, pprofAddr)...)
	if err != nil {
		t.Fatal(err)
	}
	// Deferred calls run last first: the namespace goes while the operator still runs (it sees its
	// clusters go), then the operator stops and its peak memory is read — also when a step fails.
	defer func() {
		mgr.Stop()
		r.PeakRSSBytes = mgr.PeakRSS()
	}()
	defer deleteNamespace(t, cl, ns)

	var m0 fleetbench.OperatorMetrics
	harness.Eventually(t, 60*time.Second, "the operator's metrics endpoint", func() error {
		m0, err = fleetbench.ScrapeOperator(addr)
		return err
	})
	fleet := eachAlone(decodeAll(t, strings.NewReader(fleetYAML(ns, n))))
	watch := watchReady(t, ns, &v2beta1.EMQX{}, n, emqxReady)
	defer watch.stop()

	cp0 := controlPlaneCPU(t)
	start := time.Now()
	applyAll(t, cl, fleet)
	readyAt := watch.wait(t, "EMQX resources")
	r.ConvergeSeconds = readyAt.Sub(start).Seconds()
	r.ControlPlaneCPU = controlPlaneCPU(t) - cp0
	r.Converge = scrape(t, addr).Minus(m0)

	time.Sleep(plan.Settle)
	m2, cp2, calls2, idleStart := scrape(t, addr), controlPlaneCPU(t), callCount(t), time.Now()
	// The idle window's CPU profile, and the heap at its end, for `go tool pprof` (where the
	// idle figures come from).
	profiled, dir := make(chan error, 1), outDir(t)
	go func() {
		profiled <- saveProfile(dir, pprofAddr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(plan.Idle.Seconds())),
			fmt.Sprintf("operator-N%d-run%d-idle.cpu.pprof", n, run))
	}()
	time.Sleep(plan.Idle)
	m3, cp3, calls3, idleEnd := scrape(t, addr), controlPlaneCPU(t), callCount(t), time.Now()
	r.IdleSeconds = idleEnd.Sub(idleStart).Seconds()
	r.Idle = m3.Minus(m2)
	r.ControlPlaneIdleCPU = cp3 - cp2
	r.EMQXCallsIdle = calls3 - calls2
	if err := saveProfile(dir, pprofAddr, "/debug/pprof/heap", fmt.Sprintf("operator-N%d-run%d-heap.pprof", n, run)); err != nil {
		t.Error(err)
	}
	if err := <-profiled; err != nil {
		t.Error(err)
	}
	// The operator's gets and lists from the audit log (client-go's user agent starts with the
	// binary's name): its metric counts a watch set up again as a GET too. The log is written as
	// each request completes, so a read received before idleEnd is there by now.
	if r.IdleUncachedReads, r.IdleReadsByURI, err = fleetbench.AuditReads(auditLog, operatorUserAgent, idleStart, idleEnd); err != nil {
		t.Fatal(err)
	}
	// The operator's informers list every watched kind as it starts: none in the log means the
	// log does not see the operator (another user agent), and its zero while idle proves nothing.
	if startup, _, err := fleetbench.AuditReads(auditLog, operatorUserAgent, mgrStart, idleStart); err != nil || startup == 0 {
		t.Fatalf("the audit log holds no read by %q as the operator started (err %v): the idle count would mean nothing", operatorUserAgent, err)
	}
	return r
}

func scrape(t *testing.T, addr string) fleetbench.OperatorMetrics {
	t.Helper()
	m, err := fleetbench.ScrapeOperator(addr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func callCount(t *testing.T) int64 {
	t.Helper()
	n, err := env.Sim.CallCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func controlPlaneCPU(t *testing.T) float64 {
	t.Helper()
	s, err := fleetbench.ControlPlaneCPU(env.WorkDir(), clusterName)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// saveProfile fetches one of the operator's Go profiles into dir.
func saveProfile(dir, pprofAddr, path, name string) error {
	resp, err := http.Get("http://" + pprofAddr + path)
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", path, resp.Status)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", path, err)
	}
	return f.Close()
}
