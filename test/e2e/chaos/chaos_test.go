package chaose2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/chaos"
)

// The bounds the invariants hold the operator to, in wall time on the rig (the simulator runs
// ten times faster than EMQX, and the operator's health interval is 3 s there).
const (
	// staleBound: Ready may lag a node that stopped running by five health intervals.
	staleBound = 15 * time.Second
	// keyBound: a deleted API key Secret is made again, and EMQX takes the new key, within this.
	keyBound = 30 * time.Second
	// sampleEvery: the ground truth is read at least this often.
	sampleEvery = 200 * time.Millisecond
)

// settings come from the environment, as `make chaos` and `make test` set it (docs/chaos.md).
type settings struct {
	seed             uint64
	steps, offset    int
	only             string
	wall             time.Duration
	clusters, shrink int
	// converge: once the faults stop, every cluster runs what its spec says within this.
	converge time.Duration
}

func readSettings() (settings, error) {
	s := settings{seed: 1, steps: 5000, wall: 90 * time.Minute, clusters: 3, converge: 150 * time.Second}
	for name, into := range map[string]any{"CHAOS_SEED": &s.seed, "CHAOS_STEPS": &s.steps, "CHAOS_OFFSET": &s.offset,
		"CHAOS_CLUSTERS": &s.clusters, "CHAOS_SHRINK": &s.shrink, "CHAOS_WALL": &s.wall, "CHAOS_CONVERGE": &s.converge} {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			continue
		}
		var err error
		switch p := into.(type) {
		case *uint64:
			*p, err = strconv.ParseUint(v, 10, 64)
		case *int:
			*p, err = strconv.Atoi(v)
		case *time.Duration:
			*p, err = time.ParseDuration(v)
		}
		if err != nil {
			return s, fmt.Errorf("%s=%q: %w", name, v, err)
		}
	}
	s.only = os.Getenv("CHAOS_ONLY")
	if s.clusters < 1 || s.steps < 0 || s.offset < 0 || s.shrink < 0 {
		return s, fmt.Errorf("CHAOS_CLUSTERS must be ≥ 1 and CHAOS_STEPS, CHAOS_OFFSET, CHAOS_SHRINK ≥ 0")
	}
	return s, nil
}

// outcome is one run of a list of steps.
type outcome struct {
	done       []chaos.Step // the steps carried out
	culprit    int          // how many steps had run when the first violation was seen (-1: none)
	violations []chaos.Violation
	checks     int
	gaps       int
	sampling   string
	jobs       string // backups and restores by phase
	faults     int
	actions    int
	took       time.Duration
}

// TestChaos runs the seed's steps over fresh clusters until the steps or the wall time run out,
// then lets them converge and checks the request log. A failure prints the seed, the steps up to
// the first violation (shrunk when CHAOS_SHRINK allows replays) and the command that replays them.
func TestChaos(t *testing.T) {
	cfg, err := readSettings()
	if err != nil {
		t.Fatal(err)
	}
	steps, err := chaos.Select(chaos.Generate(cfg.seed, cfg.clusters, cfg.offset, cfg.steps), cfg.only)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d, steps %d..%d, %d clusters, wall time %s", cfg.seed, cfg.offset, cfg.offset+cfg.steps-1, cfg.clusters, cfg.wall)
	res := runSteps(t, cfg, steps, "r0", cfg.wall)
	if len(res.done) == 0 && len(steps) > 0 {
		t.Errorf("no step ran in %s: the setup took the whole step window", cfg.wall)
	}
	t.Logf("chaos: %d steps (%d actions, %d faults) in %s, %d invariant checks (%d sample gaps over %s), %d violations",
		len(res.done), res.actions, res.faults, res.took.Round(time.Second), res.checks, res.gaps, chaos.MaxGap, len(res.violations))
	t.Logf("sampling: %s; %s", res.sampling, res.jobs)
	if len(res.violations) == 0 {
		if n := len(res.done); n > 0 && n < len(steps) && !t.Failed() {
			t.Logf("the wall time ran out; resume with: make chaos SEED=%d OFFSET=%d CLUSTERS=%d", cfg.seed, res.done[n-1].Index+1, cfg.clusters)
		}
		if t.Failed() { // a harness error stopped the run
			t.Logf("seed %d, steps done: %s; replay: %s", cfg.seed, chaos.Indexes(res.done), replayCommand(cfg, res.done))
		}
		return
	}
	for _, v := range res.violations {
		t.Errorf("violation: %s", v)
	}
	failing := res.done
	if res.culprit >= 0 && res.culprit < len(failing) {
		failing = failing[:res.culprit+1]
	}
	if cfg.shrink > 0 {
		replays := 0
		// A replay counts as failing only when the same promise breaks on the same cluster: the
		// shrinking must not slide to another bug.
		first := res.violations[0]
		failing, replays = chaos.Shrink(failing, func(list []chaos.Step) bool {
			replays++
			r := runSteps(t, cfg, list, fmt.Sprintf("s%d", replays), cfg.wall)
			t.Logf("replay %d of %d steps: %d violations", replays, len(list), len(r.violations))
			for _, v := range r.violations {
				if v.Invariant == first.Invariant && renamed(v.Cluster) == renamed(first.Cluster) {
					return true
				}
			}
			return false
		}, cfg.shrink)
		t.Logf("shrunk to %d steps in %d replays", len(failing), replays)
	}
	var list []string
	for _, s := range failing {
		list = append(list, s.String())
	}
	t.Errorf("seed %d: the failing steps:\n  %s\nreplay: %s", cfg.seed, strings.Join(list, "\n  "), replayCommand(cfg, failing))
}

// replayCommand replays exactly these steps of the seed's sequence, with the run's settings.
func replayCommand(cfg settings, steps []chaos.Step) string {
	return fmt.Sprintf("make chaos SEED=%d STEPS=%d CLUSTERS=%d CONVERGE=%s ONLY=%s",
		cfg.seed, cfg.offset+cfg.steps, cfg.clusters, cfg.converge, chaos.Indexes(steps))
}

// renamed is a cluster's key without its run's name (chaos-<seed>-<run>-<i>/c<i> → <i>/c<i>), so
// that a replay's clusters compare with the first run's.
func renamed(cluster string) string {
	ns, name, _ := strings.Cut(cluster, "/")
	return ns[strings.LastIndexByte(ns, '-')+1:] + "/" + name
}

// runSteps carries out steps on fresh clusters with the sampler running, within wall (setup and
// convergence included), and returns what broke.
func runSteps(t *testing.T, cfg settings, steps []chaos.Step, run string, wall time.Duration) outcome {
	start := time.Now()
	res := outcome{culprit: -1}
	tmp := t.TempDir()
	w, err := newWorld(t, fmt.Sprintf("%d-%s", cfg.seed%1000, run), cfg.clusters, tmp)
	if w != nil {
		defer w.teardown()
	}
	if err != nil {
		t.Fatalf("setting up the clusters: %v", err)
	}
	logFrom := len(env.OperatorLog())
	callsFrom := time.Now()
	names := map[string]string{}
	for _, c := range w.clusters {
		names[c.ns] = c.name
	}
	ctx, stop := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	var intervals []time.Duration // between two samples taken, read once sampled is closed
	go func() {
		defer close(sampled)
		var last time.Time
		for ctx.Err() == nil {
			next := time.Now().Add(sampleEvery)
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			s, err := sample(rctx, names)
			cancel()
			if err == nil {
				w.check.Observe(s)
				if !last.IsZero() {
					intervals = append(intervals, s.At.Sub(last))
				}
				last = s.At
			}
			time.Sleep(time.Until(next))
		}
	}()
	// The steps stop early enough for convergence to fit in the wall time.
	// The simulator keeps its last 5,000 calls: read them as the run goes, not only at the end.
	var calls []chaos.Call
	lastCalls, callsRead := callsFrom, time.Now()
	readCalls := func() {
		got := callsOf(t, names, lastCalls)
		calls = append(calls, got...)
		for _, c := range got {
			lastCalls = maxTime(lastCalls, c.At.Add(time.Nanosecond))
		}
		callsRead = time.Now()
	}
	stepsUntil := start.Add(wall - cfg.converge - 10*time.Second)
	for _, s := range steps {
		if time.Now().After(stepsUntil) {
			break
		}
		if err := w.due(false); err != nil {
			t.Errorf("step %s: clearing a fault: %v", s, err)
			break
		}
		t.Logf("%s %s", time.Now().Format("15:04:05.000"), s)
		if err := w.do(s); err != nil {
			t.Errorf("step %s: %v", s, err)
			break
		}
		res.done = append(res.done, s)
		for end := time.Now().Add(s.Pause); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if err := w.due(false); err != nil {
				t.Errorf("after step %s: clearing a fault: %v", s, err)
			}
		}
		if w.operatorExited() {
			w.check.Report(chaos.Violation{At: time.Now(), Invariant: chaos.Panicked, Detail: "the operator exited by itself (see its log)"})
			if err := startOperator(); err != nil {
				t.Errorf("restarting the operator: %v", err)
				break
			}
		}
		if err := w.topUp(); err != nil {
			t.Logf("giving new nodes clients: %v", err) // the simulator's control API answers again later
		}
		if time.Since(callsRead) > 20*time.Second {
			readCalls()
		}
		if vs, _ := w.check.Violations(); len(vs) > 0 && res.culprit < 0 {
			res.culprit = len(res.done) - 1
		}
	}
	for _, v := range w.converge(cfg.converge) {
		w.check.Report(v)
	}
	stop()
	<-sampled
	if len(intervals) > 0 {
		sort.Slice(intervals, func(i, j int) bool { return intervals[i] < intervals[j] })
		res.sampling = fmt.Sprintf("%d samples, every %s (median), %s at the 99th percentile",
			len(intervals)+1, intervals[len(intervals)/2].Round(time.Millisecond), intervals[len(intervals)*99/100].Round(time.Millisecond))
	}
	readCalls()
	w.check.CheckCalls(calls)
	if log := env.OperatorLog()[logFrom:]; strings.Contains(log, "panic") {
		i := strings.Index(log, "panic")
		w.check.Report(chaos.Violation{At: time.Now(), Invariant: chaos.Panicked, Detail: log[max(0, i-200):min(len(log), i+800)]})
	}
	w.check.Judged(time.Now())
	res.violations, res.checks = w.check.Violations()
	res.gaps = w.check.Gaps()
	res.faults, res.actions, res.took = w.faults, w.actions, time.Since(start)
	res.jobs = w.jobSummary()
	if len(res.violations) > 0 && res.culprit < 0 {
		res.culprit = len(res.done) - 1 // found at the end: every step may have played a part
	}
	return res
}

// callsOf reads the simulator's request log of the run's clusters since from. An evacuation call
// names the node it evacuates in its path; any other call is the answering node's.
func callsOf(t *testing.T, clusters map[string]string, from time.Time) []chaos.Call {
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Errorf("reading the simulator's request log: %v", err)
		return nil
	}
	var out []chaos.Call
	for _, c := range calls {
		if c.Time.Before(from) {
			continue
		}
		node := c.Node
		if i := strings.Index(c.Path, "/load_rebalance/"); i >= 0 && strings.Contains(c.Path, "/evacuation/") {
			node = strings.SplitN(c.Path[i+len("/load_rebalance/"):], "/", 2)[0]
		}
		ns, pod := podOfNode(node)
		if name, ok := clusters[ns]; ok {
			out = append(out, chaos.Call{At: c.Time, Cluster: ns + "/" + name, Pod: pod, Path: c.Path, Status: c.Status})
		}
	}
	return out
}

// podOfNode reads namespace and pod from an EMQX node name (emqx@<pod>.<headless>.<ns>.svc...).
func podOfNode(node string) (string, string) {
	_, host, _ := strings.Cut(node, "@")
	parts := strings.Split(host, ".")
	if len(parts) < 3 {
		return "", ""
	}
	return parts[2], parts[0]
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
