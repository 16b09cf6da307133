package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)

// tick is the time between two samples in the tests: within MaxGap, so pairs are judged.
const tick = 500 * time.Millisecond

// world is a three-core cluster "ns/c" the tests change sample by sample.
type world struct {
	c  *Checker
	cv *ClusterView
	at time.Time
}

func newWorld() *world {
	cv := &ClusterView{Ready: true, Want: map[string]int32{"core": 3}, Sets: map[string]SetView{"core": {Replicas: 3, UpdateRevision: "r1"}},
		Pods: map[string]PodView{}, Nodes: map[string]NodeView{}, PVCs: map[string]string{}, APIKeySecret: "k1"}
	for i := 0; i < 3; i++ {
		pod := fmt.Sprintf("c-core-%d", i)
		cv.Pods[pod] = PodView{UID: pod + "-a", Role: "core", Ordinal: i, Revision: "r1", Created: t0.Add(-time.Hour)}
		cv.Nodes[pod] = NodeView{Running: true, Connections: 100}
		cv.PVCs["data-"+pod] = "pvc-" + pod
	}
	w := &world{c: NewChecker(1, 15*time.Second, 30*time.Second), cv: cv, at: t0}
	w.observe(0)
	return w
}

// observe takes a sample after d, of a deep-enough copy of the current view.
func (w *world) observe(d time.Duration) { w.observeTaking(d, 0) }

// observeTaking takes a sample after d whose reads take took.
func (w *world) observeTaking(d, took time.Duration) {
	w.at = w.at.Add(d)
	cv := *w.cv
	cv.Sets, cv.Pods, cv.Nodes, cv.PVCs = clone(w.cv.Sets), clone(w.cv.Pods), clone(w.cv.Nodes), clone(w.cv.PVCs)
	w.c.Observe(&Sample{At: w.at, Done: w.at.Add(took), Clusters: map[string]*ClusterView{"ns/c": &cv}})
}

func clone[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (w *world) set(pod string, f func(*NodeView)) {
	n := w.cv.Nodes[pod]
	f(&n)
	w.cv.Nodes[pod] = n
}

// addReplicant adds a running replicant, c-replicant-0, on release; the cores run 5.8.6.
func (w *world) addReplicant(release string) {
	for pod, p := range w.cv.Pods {
		p.Release = "5.8.6"
		w.cv.Pods[pod] = p
	}
	w.cv.Want["replicant"], w.cv.Sets["replicant"] = 1, SetView{Replicas: 1, UpdateRevision: "r1"}
	w.cv.Pods["c-replicant-0"] = PodView{UID: "c-replicant-0-a", Role: "replicant", Ordinal: 0, Revision: "r1", Release: release, Created: t0.Add(-time.Hour)}
	w.cv.Nodes["c-replicant-0"] = NodeView{Running: true}
	w.observe(tick)
}

// recreate plays a pod made again on release by its StatefulSet, its node not running yet.
func (w *world) recreate(pod, release string) {
	p := w.cv.Pods[pod]
	p.UID, p.Release, p.Created, p.Terminating = p.UID+"y", release, w.at, false
	w.cv.Pods[pod] = p
	w.cv.Nodes[pod] = NodeView{}
	w.observe(tick)
}

// replace plays one pod's replacement: evacuated, deleted, back on revision rev.
func (w *world) replace(pod, rev string) {
	w.set(pod, func(n *NodeView) { n.Evacuating = true })
	w.observe(tick)
	w.set(pod, func(n *NodeView) { n.Connections = 0 })
	w.observe(tick)
	p := w.cv.Pods[pod]
	p.Terminating = true
	w.cv.Pods[pod] = p
	w.observe(tick)
	delete(w.cv.Pods, pod)
	delete(w.cv.Nodes, pod)
	w.observe(tick)
	p.UID, p.Revision, p.Created, p.Terminating = p.UID+"x", rev, w.at, false
	w.cv.Pods[pod] = p
	w.observe(tick)
	w.cv.Nodes[pod] = NodeView{Running: true}
	w.observe(tick)
}

func (w *world) violations() string {
	vs, _ := w.c.Violations()
	var out []string
	for _, v := range vs {
		out = append(out, v.Invariant+": "+v.Detail)
	}
	return strings.Join(out, "\n")
}

func TestCheckerInvariants(t *testing.T) {
	for _, tc := range []struct {
		name string
		play func(w *world)
		want string // a substring of the violations; "" for none
	}{
		{"a rollout one node at a time keeps every promise", func(w *world) {
			w.cv.Sets["core"] = SetView{Replicas: 3, UpdateRevision: "r2"}
			for _, pod := range []string{"c-core-2", "c-core-1", "c-core-0"} {
				w.replace(pod, "r2")
			}
		}, ""},
		{"a second node down is over the budget", func(w *world) {
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
		}, "too-many-nodes-down: 2 nodes down at once, the budget is 1: [c-core-1 c-core-2]"},
		{"a pod the harness deleted is counted apart", func(w *world) {
			w.c.DisruptPod("ns/c", "c-core-0", "c-core-0-a")
			p := w.cv.Pods["c-core-0"]
			p.Terminating = true
			w.cv.Pods["c-core-0"] = p
			w.set("c-core-0", func(n *NodeView) { n.Running, n.Connections = false, 0 })
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
		}, ""},
		{"a node stopped with clients and no evacuation drops them", func(w *world) {
			w.set("c-core-1", func(n *NodeView) { n.Running = false })
			w.observe(tick)
		}, "clients-dropped: node of c-core-1 stopped with 100 clients"},
		{"a stopped node the status still calls Ready past the bound", func(w *world) {
			w.c.DisruptNode("ns/c", "c-core-1")
			w.set("c-core-1", func(n *NodeView) { n.Running = false })
			for i := 0; i < 40; i++ {
				w.observe(tick)
			}
		}, "stale-ready: Ready=True for 16s while the node of c-core-1 does not run"},
		{"Ready turning False in time is no violation", func(w *world) {
			w.c.DisruptNode("ns/c", "c-core-1")
			w.set("c-core-1", func(n *NodeView) { n.Running = false })
			w.observe(5 * time.Second)
			w.cv.Ready = false
			w.observe(30 * time.Second)
		}, ""},
		{"a pod on the current revision replaced again", func(w *world) {
			w.cv.Sets["core"] = SetView{Replicas: 3, UpdateRevision: "r2"}
			w.observe(tick)
			w.replace("c-core-2", "r2")
			w.observe(5 * time.Second)
			w.replace("c-core-2", "r2")
		}, "step-done-twice: pod c-core-2 (uid c-core-2-ax"},
		{"a scale-in deletes the departing pod, keeps its PVC", func(w *world) {
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
			w.set("c-core-2", func(n *NodeView) { n.Connections = 0 })
			w.cv.Sets["core"] = SetView{Replicas: 2, UpdateRevision: "r1"}
			w.observe(tick)
			delete(w.cv.Pods, "c-core-2")
			delete(w.cv.Nodes, "c-core-2")
			w.observe(tick)
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
		}, ""},
		{"after a gap in the samples, a stop cannot be judged", func(w *world) {
			w.set("c-core-1", func(n *NodeView) { n.Running = false })
			w.observe(5 * time.Second)
		}, ""},
		{"a sample whose reads took long opens a gap too: an evacuation may have come and gone unseen", func(w *world) {
			w.set("c-core-1", func(n *NodeView) { n.Running = false })
			w.observeTaking(400*time.Millisecond, 400*time.Millisecond)
		}, ""},
		{"nodes the spec no longer wants go by the user's wish", func(w *world) {
			w.cv.Want["core"] = 1
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
		}, ""},
		{"a deleted PVC", func(w *world) {
			delete(w.cv.PVCs, "data-c-core-0")
			w.observe(tick)
		}, "pvc-deleted: PVC data-c-core-0 (uid pvc-c-core-0) was deleted"},
		{"the deleted Secret still seen is not the Secret back", func(w *world) {
			w.c.DeletedAPIKey("ns/c", w.at, "k1")
			w.observe(100 * time.Millisecond)
			w.cv.APIKeySecret = ""
			w.observe(31 * time.Second)
		}, "api-key-not-back"},
		{"a pod the harness deleted and its successor running within one sample", func(w *world) {
			w.c.DisruptPod("ns/c", "c-core-1", "c-core-1-a")
			p := w.cv.Pods["c-core-1"]
			p.UID, p.Created = "c-core-1-b", w.at
			w.cv.Pods["c-core-1"] = p
			w.set("c-core-1", func(n *NodeView) { n.Connections = 0 })
			w.observe(tick)
		}, ""},
		{"a replicant no running core of its release can take counts apart, until it runs", func(w *world) {
			w.addReplicant("5.8.6")
			w.recreate("c-replicant-0", "5.9.1") // the image changed while it was being replaced
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
			w.recreate("c-core-2", "5.9.1") // the rollout's first core
			w.set("c-core-2", func(n *NodeView) { n.Running = true })
			w.observe(tick)
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = true }) // before the replicant joined
			w.observe(tick)
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = false })
			w.set("c-replicant-0", func(n *NodeView) { n.Running = true })
			w.observe(tick)
			w.set("c-replicant-0", func(n *NodeView) { n.Running = false })
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
		}, "too-many-nodes-down: 2 nodes down at once, the budget is 1: [c-core-1 c-replicant-0]"},
		{"a replicant whose release a running core runs counts", func(w *world) {
			w.addReplicant("5.8.6")
			w.recreate("c-replicant-0", "5.8.6")
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
		}, "too-many-nodes-down: 2 nodes down at once, the budget is 1: [c-core-2 c-replicant-0]"},
		{"a scale-in undone while the node is on its way out counts apart, until it serves", func(w *world) {
			w.cv.Want["core"] = 2
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
			w.cv.Sets["core"] = SetView{Replicas: 2, UpdateRevision: "r1"}
			w.observe(tick)
			w.cv.Want["core"], w.cv.Sets["core"] = 3, SetView{Replicas: 3, UpdateRevision: "r1"}
			w.recreate("c-core-2", "5.8.6")
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = false })
			w.set("c-core-2", func(n *NodeView) { n.Running = true })
			w.observe(tick)
			w.set("c-core-2", func(n *NodeView) { n.Evacuating = true })
			w.set("c-core-1", func(n *NodeView) { n.Evacuating = true })
			w.observe(tick)
		}, "too-many-nodes-down: 2 nodes down at once, the budget is 1: [c-core-1 c-core-2]"},
		{"an API key Secret that does not come back", func(w *world) {
			w.c.DeletedAPIKey("ns/c", w.at, "k1")
			w.cv.APIKeySecret = ""
			w.observe(31 * time.Second)
		}, "api-key-not-back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.play(w)
			got := w.violations()
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("violations:\n%s\nwant %q", got, tc.want)
			}
			if tc.want != "" && strings.Count(got, "\n") != 0 {
				t.Errorf("more than the one violation:\n%s", got)
			}
		})
	}
}

func TestCheckerReadsTheRequestLog(t *testing.T) {
	start := "/api/v5/load_rebalance/emqx@x/evacuation/start"
	for _, tc := range []struct {
		name  string
		calls func(w *world) []Call
		want  string
	}{
		{"an evacuation started twice in one run of a node", func(w *world) []Call {
			return []Call{{At: w.at, Cluster: "ns/c", Pod: "c-core-1", Path: start, Status: 200},
				{At: w.at.Add(time.Second), Cluster: "ns/c", Pod: "c-core-1", Path: start, Status: 200}}
		}, "step-done-twice: evacuation of c-core-1 started twice"},
		{"started, stopped, started again", func(w *world) []Call {
			return []Call{{At: w.at, Cluster: "ns/c", Pod: "c-core-1", Path: start, Status: 200},
				{At: w.at.Add(time.Second), Cluster: "ns/c", Pod: "c-core-1", Path: "/api/v5/load_rebalance/emqx@x/evacuation/stop", Status: 200},
				{At: w.at.Add(2 * time.Second), Cluster: "ns/c", Pod: "c-core-1", Path: start, Status: 200}}
		}, ""},
		{"started again after the node restarted", func(w *world) []Call {
			first := w.at
			w.set("c-core-1", func(n *NodeView) { n.Running = false })
			w.c.DisruptNode("ns/c", "c-core-1")
			w.observe(tick)
			w.set("c-core-1", func(n *NodeView) { n.Running = true })
			w.observe(tick)
			return []Call{{At: first, Cluster: "ns/c", Pod: "c-core-1", Path: start, Status: 200},
				{At: w.at, Cluster: "ns/c", Pod: "c-core-1", Path: start, Status: 200}}
		}, ""},
		{"a 401 while the key Secret is replaced, and one later", func(w *world) []Call {
			w.c.DeletedAPIKey("ns/c", w.at, "k1")
			w.cv.APIKeySecret = ""
			w.observe(tick)
			w.cv.APIKeySecret = "k2"
			w.observe(2 * time.Second)
			return []Call{{At: w.at.Add(-time.Second), Cluster: "ns/c", Pod: "c-core-0", Path: "/api/v5/nodes", Status: 401},
				{At: w.at.Add(time.Minute), Cluster: "ns/c", Pod: "c-core-0", Path: "/api/v5/nodes", Status: 401}}
		}, "api-key-refused: /api/v5/nodes on c-core-0 answered 401 outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.c.CheckCalls(tc.calls(w))
			got := w.violations()
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("violations:\n%s\nwant %q", got, tc.want)
			}
			if tc.want != "" && strings.Count(got, "\n") != 0 {
				t.Errorf("more than the one violation:\n%s", got)
			}
		})
	}
}

func TestARunWithTooManyUnjudgedPairsIsReported(t *testing.T) {
	for _, tc := range []struct {
		gaps int
		want string
	}{
		{0, ""},
		{5, ""}, // 5 of 100 pairs: the share allowed
		{6, "samples-unjudged: 6 of 100 pairs of samples spanned more than 700ms and were not judged"},
	} {
		w := newWorld() // its first sample
		for i := 0; i < 100; i++ {
			if i < tc.gaps {
				w.observeTaking(tick, time.Second)
			} else {
				w.observe(tick)
			}
		}
		w.c.Judged(w.at)
		if got := w.violations(); got != tc.want {
			t.Errorf("%d gaps: violations %q, want %q", tc.gaps, got, tc.want)
		}
	}
}
