// Package chaos is the pure half of the chaos harness (make chaos): the seeded sequence of user
// actions and faults, the invariants checked against what the API server and the simulator show,
// and the shrinking of a failing sequence. The e2e half (test/e2e/chaos) carries the steps out on
// the local cluster and feeds the samples in.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is what a step does.
type Kind string

// User actions.
const (
	ScaleCores         Kind = "scale-cores"      // Value: the new core count (2..4)
	ScaleReplicants    Kind = "scale-replicants" // Value: the new replicant count (0..3)
	ChangeImage        Kind = "change-image"     // the next patch release
	RuntimeConfig      Kind = "runtime-config"   // a key EMQX takes live (log level)
	RestartConfig      Kind = "restart-config"   // a key EMQX reads at start (node.process_limit): a roll
	RotateLicence      Kind = "rotate-licence"   // a new key in the licence Secret
	RotateCertificate  Kind = "rotate-cert"      // a new certificate and key in the listeners' TLS Secret
	Backup             Kind = "backup"           // an EMQXBackup of the cluster to a PVC
	Restore            Kind = "restore"          // an EMQXRestore of the cluster's newest succeeded backup
	Pause              Kind = "pause"            // the pause annotation on
	Resume             Kind = "resume"           // the pause annotation off
	DeletePod          Kind = "delete-pod"       // Pick chooses the pod
	DrainNode          Kind = "drain-node"       // Pick chooses the fake node: cordon, evict its pods, uncordon after Hold
	DeleteAPIKeySecret Kind = "delete-api-key"   // the Secret holding the operator's generated API key
)

// Faults.
const (
	KillOperator     Kind = "kill-operator"     // SIGKILL; restarted after Hold
	RestartAPIServer Kind = "restart-apiserver" // the kube-apiserver process, stopped and started again
	EMQXServerError  Kind = "emqx-5xx"          // Pick's node answers 500 for Hold
	EMQXSlow         Kind = "emqx-slow"         // Pick's node answers after Value ms for Hold
	EMQXHung         Kind = "emqx-hung"         // Pick's node accepts and never answers for Hold
	StopCore         Kind = "stop-core"         // Pick's core stops (emqx stop) for Hold, then starts again
	NodeNotReady     Kind = "node-not-ready"    // Pick's fake node reports Ready=False for Hold (its kubelet's view)
)

// IsFault: the harness injected it to break things; anything it takes down is counted apart.
func (k Kind) IsFault() bool {
	switch k {
	case KillOperator, RestartAPIServer, EMQXServerError, EMQXSlow, EMQXHung, StopCore, NodeNotReady:
		return true
	}
	return false
}

// Step is one thing the harness does, then waits Pause before the next.
type Step struct {
	Index   int // its place in the seed's sequence (stable under shrinking and offsets)
	Cluster int
	Kind    Kind
	Value   int
	// Pick chooses among what exists when the step runs (a pod, a node): index modulo their count.
	Pick  int
	Hold  time.Duration // how long a fault lasts
	Pause time.Duration // wait after the step
}

func (s Step) String() string {
	out := fmt.Sprintf("#%d c%d %s", s.Index, s.Cluster, s.Kind)
	switch s.Kind {
	case ScaleCores, ScaleReplicants, EMQXSlow:
		out += fmt.Sprintf(" %d", s.Value)
	}
	if s.Pick != 0 {
		out += fmt.Sprintf(" pick=%d", s.Pick)
	}
	if s.Hold != 0 {
		out += fmt.Sprintf(" hold=%s", s.Hold)
	}
	return out
}

// weights: how often each kind comes up, in steps per 100. Actions outnumber faults, as on a
// real fleet; the operator-killing and control-plane faults are rarer, as they take seconds.
var weights = []struct {
	kind Kind
	w    int
}{
	{ScaleCores, 8}, {ScaleReplicants, 10}, {ChangeImage, 7}, {RuntimeConfig, 8}, {RestartConfig, 5},
	{RotateLicence, 5}, {RotateCertificate, 5}, {Backup, 4}, {Restore, 2}, {Pause, 3}, {Resume, 5}, {DeletePod, 8},
	{DrainNode, 3}, {DeleteAPIKeySecret, 5},
	{KillOperator, 7}, {RestartAPIServer, 3}, {EMQXServerError, 7}, {EMQXSlow, 6}, {EMQXHung, 4}, {StopCore, 5},
	{NodeNotReady, 3},
}

// Generate returns steps [offset, offset+n) of the sequence seed makes over clusters clusters.
// Step i depends only on seed and i, so a run resumed from an offset, or replayed from a shrunk
// list, does exactly what the full run did at those places.
func Generate(seed uint64, clusters, offset, n int) []Step {
	total := 0
	for _, w := range weights {
		total += w.w
	}
	out := make([]Step, 0, n)
	for i := offset; i < offset+n; i++ {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		s := Step{Index: i, Cluster: r.IntN(clusters), Pick: r.IntN(1000),
			Pause: time.Duration(300+r.IntN(2700)) * time.Millisecond}
		x := r.IntN(total)
		for _, w := range weights {
			if x < w.w {
				s.Kind = w.kind
				break
			}
			x -= w.w
		}
		switch s.Kind {
		case ScaleCores:
			s.Value = 2 + r.IntN(3)
		case ScaleReplicants:
			s.Value = r.IntN(4)
		case EMQXSlow:
			s.Value = 500 + r.IntN(2500)
		}
		switch {
		case s.Kind == NodeNotReady:
			// Long enough for the scheduler to be asked to place a pod while the node is out.
			s.Hold = time.Duration(5000+r.IntN(20000)) * time.Millisecond
		case s.Kind.IsFault() || s.Kind == DrainNode:
			s.Hold = time.Duration(1000+r.IntN(7000)) * time.Millisecond
		}
		out = append(out, s)
	}
	return out
}

// Select keeps the steps whose Index is listed ("3,17,40"); an empty list keeps all.
func Select(steps []Step, only string) ([]Step, error) {
	if strings.TrimSpace(only) == "" {
		return steps, nil
	}
	want := map[int]bool{}
	for _, f := range strings.Split(only, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("ONLY=%q: %q is not a step number", only, f)
		}
		want[i] = true
	}
	var out []Step
	for _, s := range steps {
		if want[s.Index] {
			out = append(out, s)
			delete(want, s.Index)
		}
	}
	if len(want) > 0 {
		var missing []string
		for i := range want {
			missing = append(missing, strconv.Itoa(i))
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("ONLY=%q: steps %s are outside the steps generated (OFFSET and STEPS)", only, strings.Join(missing, ","))
	}
	return out, nil
}

// Indexes lists the steps' numbers as ONLY takes them.
func Indexes(steps []Step) string {
	var b strings.Builder
	for i, s := range steps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s.Index))
	}
	return b.String()
}
