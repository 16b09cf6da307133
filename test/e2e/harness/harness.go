// Package harness runs the end-to-end environment: the local kwok cluster (hack/cluster.sh), the
// EMQX simulator and the operator as separate processes (the way `make run` runs it), with helpers
// later tests reuse: namespaces per test, waiting for conditions, reading Events, injecting faults
// through the simulator, killing and restarting the operator.
package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// Config says where things are; zero values are filled from the environment.
type Config struct {
	// RepoRoot is the checkout (default: found from the working directory).
	RepoRoot string
	// Bin holds manager and emqx-sim, built beforehand (default <repo>/bin).
	Bin string
	// ClusterName (default e2e) and NetMode (loopback or netns; default $E2E_NET_MODE or loopback).
	ClusterName, NetMode string
	// TimeScale for the simulator (default 0.1).
	TimeScale float64
	// NoOperator: do not start the operator (tests that run managers of their own, StartManager).
	NoOperator bool
	// NoCRDs: do not install the operator's CRDs (tests that install CRDs of their own first).
	NoCRDs bool
	// Fresh: delete a local cluster of the same name left over from an earlier run first, instead
	// of reusing it (its size and Service range may not be this run's).
	Fresh bool
}

// Env is a running end-to-end environment.
type Env struct {
	cfg        Config
	workDir    string
	Kubeconfig string
	Client     client.Client
	Sim        *SimClient
	operator   *process
	operators  []*process // every operator StartOperator started, for their peak memory
	stopOnce   sync.Once
	// kubectlPath is the pinned kubectl (hack/tools.sh path kubectl), looked up once.
	kubectlOnce sync.Once
	kubectlPath string
	kubectlErr  error
	simulator   *process
	logDir      string
	restConfig  *rest.Config
	// OperatorMetrics is where the operator StartOperator ran serves its metrics (HTTPS, a
	// token allowed to get /metrics required), as host:port on loopback.
	OperatorMetrics string
}

// Scheme has the built-in kinds and the operator's API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v2beta1.AddToScheme(s))
	utilruntime.Must(v1beta2.AddToScheme(s))
	return s
}

// Start brings the environment up. Call Stop when done, also on failure.
func Start(cfg Config) (*Env, error) {
	if err := fill(&cfg); err != nil {
		return nil, err
	}
	// The test's own client logs API warnings through controller-runtime's logger.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	e := &Env{cfg: cfg, workDir: filepath.Join(cfg.RepoRoot, ".work", cfg.ClusterName)}
	e.logDir = filepath.Join(e.workDir, "logs")
	_ = os.RemoveAll(e.logDir)

	if cfg.Fresh {
		if out, err := e.clusterScript("down"); err != nil {
			return e, fmt.Errorf("deleting the leftover local cluster: %w\n%s", err, out)
		}
	}
	out, err := e.clusterScript("up")
	if err != nil {
		return e, fmt.Errorf("starting the local cluster: %w\n%s", err, out)
	}
	e.Kubeconfig = strings.TrimSpace(lastLine(out))
	restCfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		return e, err
	}
	restCfg.QPS, restCfg.Burst = 100, 200
	e.restConfig = restCfg
	if e.Client, err = client.New(restCfg, client.Options{Scheme: Scheme()}); err != nil {
		return e, err
	}
	if !cfg.NoCRDs {
		if err := e.InstallCRDs(); err != nil {
			return e, err
		}
	}
	if err := e.startSimulator(); err != nil {
		return e, err
	}
	if cfg.NoOperator {
		return e, nil
	}
	if err := e.StartOperator(); err != nil {
		return e, err
	}
	return e, nil
}

func fill(cfg *Config) error {
	if cfg.RepoRoot == "" {
		dir, err := os.Getwd()
		if err != nil {
			return err
		}
		for ; dir != "/"; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
		}
		cfg.RepoRoot = dir
	}
	if cfg.Bin == "" {
		cfg.Bin = filepath.Join(cfg.RepoRoot, "bin")
	}
	for _, b := range []string{"manager", "emqx-sim"} {
		if _, err := os.Stat(filepath.Join(cfg.Bin, b)); err != nil {
			return fmt.Errorf("%s/%s is missing: run the e2e tests with `make test-e2e`, which builds it", cfg.Bin, b)
		}
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = "e2e"
	}
	if cfg.NetMode == "" {
		cfg.NetMode = os.Getenv("E2E_NET_MODE")
	}
	if cfg.NetMode == "" {
		cfg.NetMode = "loopback"
	}
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 0.1
	}
	return nil
}

func (e *Env) clusterScript(verb string) (string, error) {
	cmd := exec.Command(filepath.Join(e.cfg.RepoRoot, "hack", "cluster.sh"), verb)
	cmd.Env = append(os.Environ(), "CLUSTER_NAME="+e.cfg.ClusterName, "WORK_DIR="+e.workDir, "NET_MODE="+e.cfg.NetMode)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// InstallCRDs applies the operator's CRDs (as every install path does) and waits until the EMQX
// kind is served.
func (e *Env) InstallCRDs() error {
	if err := e.Kubectl("apply", "--server-side", "--force-conflicts", "-f", filepath.Join(e.cfg.RepoRoot, "config", "crd", "bases")); err != nil {
		return fmt.Errorf("installing the CRDs: %w", err)
	}
	return e.waitForAPI()
}

// Kubectl runs the pinned kubectl against the local cluster.
func (e *Env) Kubectl(args ...string) error {
	_, err := e.KubectlOutput(args...)
	return err
}

// KubectlOutput runs the pinned kubectl against the local cluster and returns its standard output.
func (e *Env) KubectlOutput(args ...string) (string, error) {
	e.kubectlOnce.Do(func() {
		out, err := exec.Command(filepath.Join(e.cfg.RepoRoot, "hack", "tools.sh"), "path", "kubectl").Output()
		e.kubectlPath, e.kubectlErr = strings.TrimSpace(string(out)), err
	})
	if e.kubectlErr != nil {
		return "", fmt.Errorf("finding the pinned kubectl: %w", e.kubectlErr)
	}
	cmd := exec.Command(e.kubectlPath, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

// waitForAPI waits until the API server serves the EMQX kind (the CRD is established).
func (e *Env) waitForAPI() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := Ctx()
		err := e.Client.List(ctx, &v2beta1.EMQXList{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the EMQX kind is not served 60s after installing the CRD: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *Env) startSimulator() error {
	addrFile := filepath.Join(e.workDir, "sim-control-address")
	_ = os.Remove(addrFile)
	var err error
	e.simulator, err = startProcess("emqx-sim", e.logDir, nil, filepath.Join(e.cfg.Bin, "emqx-sim"),
		"--kubeconfig", e.Kubeconfig, "--control", "127.0.0.1:0", "--control-address-file", addrFile,
		"--time-scale", fmt.Sprint(e.cfg.TimeScale), "--volumes-dir", filepath.Join(e.workDir, "volumes"))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			e.Sim = &SimClient{base: "http://" + strings.TrimSpace(string(b)), http: &http.Client{Timeout: 10 * time.Second}}
			return nil
		}
		if !e.simulator.running() {
			return fmt.Errorf("the simulator exited; see %s", e.simulator.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the simulator did not start in 30s; see %s", e.simulator.logPath)
}

// OperatorArgs are extra flags every operator start gets (set before Start).
var OperatorArgs = []string{
	// The simulator runs ten times faster than EMQX; the operator's own wait scales with it.
	"--join-timeout=3s",
	// A stable cluster is read once per health interval (30 s for EMQX): 3 s at the simulator's pace.
	"--emqx-health-interval=3s",
	// The rig's kubelet (kwok) updates nothing: the simulator reads Secrets when a file is read.
	"--secret-propagation=1s",
	// One cluster rolls at a time, as a fleet operator would configure it (TestThrottle relies on it).
	"--max-concurrent-rollouts=1",
}

// StartOperator runs the manager binary as `make run` does, against the local cluster.
func (e *Env) StartOperator() error {
	addr, err := FreeLoopbackAddr()
	if err != nil {
		return err
	}
	return e.StartOperatorWithMetricsOn(addr)
}

// StartOperatorWithMetricsOn is StartOperator with the metrics endpoint on addr (host:port).
func (e *Env) StartOperatorWithMetricsOn(addr string) error {
	var err error
	e.OperatorMetrics = addr
	args := append([]string{"--leader-elect=false", "--metrics-bind-address=" + e.OperatorMetrics,
		"--health-probe-bind-address=127.0.0.1:0", "--zap-log-level=debug"}, OperatorArgs...)
	e.operator, err = startProcess("operator", e.logDir, []string{"KUBECONFIG=" + e.Kubeconfig},
		filepath.Join(e.cfg.Bin, "manager"), args...)
	if err == nil {
		e.operators = append(e.operators, e.operator)
	}
	return err
}

// FreeLoopbackAddr is a loopback address with a port nothing listens on now.
func FreeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close() //nolint:errcheck // only its port was wanted
	return l.Addr().String(), nil
}

// Manager is a manager process a test started (StartManager).
type Manager struct{ p *process }

// StartManager runs the built manager binary with the given environment and arguments, logging
// to <logs>/<name>.log. Stop it with Stop.
func (e *Env) StartManager(name string, env []string, args ...string) (*Manager, error) {
	p, err := startProcess(name, e.logDir, env, filepath.Join(e.cfg.Bin, "manager"), args...)
	return &Manager{p: p}, err
}

// Stop ends the manager (SIGTERM, then SIGKILL after 10 s).
func (m *Manager) Stop() { m.p.stop(10 * time.Second) }

// Kill kills the manager abruptly (SIGKILL): it releases nothing, its Lease among others.
func (m *Manager) Kill() { m.p.kill() }

// PeakRSS is the manager's peak resident set in bytes (the kernel's maxrss), known once it ended.
func (m *Manager) PeakRSS() int64 {
	if m.p.running() {
		return 0
	}
	return m.p.peakKiB << 10
}

// Running reports whether the manager has not exited.
func (m *Manager) Running() bool { return m.p.running() }

// Log is the manager's log so far.
func (m *Manager) Log() string {
	b, _ := os.ReadFile(m.p.logPath)
	return string(b)
}

// RepoRoot is the checkout the environment runs from.
func (e *Env) RepoRoot() string { return e.cfg.RepoRoot }

// StopOperator stops the operator gracefully (SIGTERM).
func (e *Env) StopOperator() { e.operator.stop(10 * time.Second) }

// NetMode is how pods get their addresses: loopback, or netns (real EndpointSlices).
func (e *Env) NetMode() string { return e.cfg.NetMode }

// KillOperator kills the operator abruptly (SIGKILL), mid-whatever it was doing.
func (e *Env) KillOperator() { e.operator.kill() }

// OperatorLog is the operator's log so far.
func (e *Env) OperatorLog() string {
	b, _ := os.ReadFile(filepath.Join(e.logDir, "operator.log"))
	return string(b)
}

// Stop tears everything down: operator, simulator, cluster. Calls after the first do nothing.
func (e *Env) Stop() { e.stopOnce.Do(e.stop) }

func (e *Env) stop() {
	e.operator.stop(10 * time.Second)
	e.simulator.stop(10 * time.Second)
	if out, err := e.clusterScript("down"); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the local cluster: %v\n%s", err, out)
	}
	if peak, runs := e.OperatorPeakRSS(); runs > 0 {
		fmt.Fprintf(os.Stderr, "operator peak RSS: %d MiB (the largest of its %d runs)\n", peak>>20, runs)
	}
}

// OperatorPeakRSS is the largest peak resident set, in bytes, of the operator runs that have
// ended, and how many have.
func (e *Env) OperatorPeakRSS() (int64, int) {
	var peak int64
	runs := 0
	for _, p := range e.operators {
		if !p.running() {
			runs++
			peak = max(peak, p.peakKiB<<10)
		}
	}
	return peak, runs
}

// WorkDir holds the environment's state: its local cluster (kwok/), logs and binaries.
func (e *Env) WorkDir() string { return e.workDir }

// LogDir holds the operator's and simulator's logs.
func (e *Env) LogDir() string { return e.logDir }

// Ctx is a context for one API call.
func Ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// RestartAPIServer stops the cluster's kube-apiserver and starts it again (hack/cluster.sh
// restart-apiserver); it returns once the API server answers.
func (e *Env) RestartAPIServer() error {
	if out, err := e.clusterScript("restart-apiserver"); err != nil {
		return fmt.Errorf("restarting kube-apiserver: %w\n%s", err, out)
	}
	return nil
}

// OperatorRunning: the operator StartOperator started is still running.
func (e *Env) OperatorRunning() bool { return e.operator != nil && e.operator.running() }

// CheckPeakAgainstShipped compares the operator's peak RSS over the suite with the memory the
// shipped Deployment requests (config/manager/manager.yaml; the Helm chart's values say the same,
// make verify checks that): the request is set from this measurement, so a suite that needs more
// says so instead of letting the guess go stale. Call it after Stop.
func (e *Env) CheckPeakAgainstShipped() error {
	peak, runs := e.OperatorPeakRSS()
	if runs == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(e.cfg.RepoRoot, "config", "manager", "manager.yaml"))
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`requests:\s*\{[^}]*memory:\s*([0-9]+[KMG]i)`).FindSubmatch(b)
	if m == nil {
		return fmt.Errorf("config/manager/manager.yaml: no memory request found")
	}
	request, err := resource.ParseQuantity(string(m[1]))
	if err != nil {
		return fmt.Errorf("config/manager/manager.yaml: memory request %q: %w", m[1], err)
	}
	fmt.Fprintf(os.Stderr, "operator peak RSS %d MiB, shipped memory request %s\n", peak>>20, m[1])
	if peak > request.Value() {
		return fmt.Errorf("the operator's peak RSS (%d MiB) is above the memory request the shipped manifests make (%s): "+
			"raise it in config/manager/manager.yaml and the Helm chart's values", peak>>20, m[1])
	}
	return nil
}
