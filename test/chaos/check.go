package chaos

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/broker-ops/emqx-operator/internal/lifecycle"
)

// Sample is one look at the ground truth — the API server's objects and the simulator's nodes,
// never the operator's own status except for the Ready it claims — taken every ≤ 200 ms.
type Sample struct {
	At time.Time // when its first read started
	// Done is when its last read answered (zero: the same as At). What changed between two
	// samples happened between the first's At and the second's Done.
	Done     time.Time
	Clusters map[string]*ClusterView // by "namespace/name"
}

// span is how long the two samples' reads took together, from prev's first read to s's last.
func span(prev, s *Sample) time.Duration {
	end := s.Done
	if end.IsZero() {
		end = s.At
	}
	return end.Sub(prev.At)
}

// ClusterView is one cluster in a sample.
type ClusterView struct {
	Ready  bool // the resource's Ready condition is True
	Paused bool
	Want   map[string]int32 // role → replicas in the spec
	Sets   map[string]SetView
	Pods   map[string]PodView  // by pod name
	Nodes  map[string]NodeView // by pod name: the simulator's node of that pod
	PVCs   map[string]string   // name → UID
	// APIKeySecret is the UID of the Secret holding the operator's API key ("" when it is gone).
	APIKeySecret string
}

// SetView is a StatefulSet.
type SetView struct {
	Replicas       int32
	UpdateRevision string
}

// PodView is a pod.
type PodView struct {
	UID, Role string
	Ordinal   int
	Revision  string
	// Release is the EMQX release of its EMQX container's image ("" when it cannot be read).
	Release     string
	Created     time.Time
	Terminating bool
}

// NodeView is a simulated EMQX node.
type NodeView struct {
	Running, Evacuating bool
	Connections         int64
}

// Violation is a broken promise.
type Violation struct {
	At                 time.Time
	Invariant, Cluster string
	Detail             string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s %s: %s", v.At.Format("15:04:05.000"), v.Invariant, v.Cluster, v.Detail)
}

// Invariants.
const (
	TooManyDown    = "too-many-nodes-down"
	PVCDeleted     = "pvc-deleted"
	ClientsDropped = "clients-dropped"
	StaleReady     = "stale-ready"
	StepTwice      = "step-done-twice"
	KeyNotBack     = "api-key-not-back"
	KeyRefused     = "api-key-refused"
	NotConverged   = "not-converged"
	Panicked       = "operator-panicked"
	// Unjudged is the run itself: too many pairs of samples spanned more than MaxGap for its
	// "0 violations" to mean much (a machine too loaded to sample in time).
	Unjudged = "samples-unjudged"
)

// MaxUnjudged is the share of pairs of samples that may go unjudged. API server restarts make
// gaps (about one each: the reads fail until it answers), a small share of any run.
const MaxUnjudged = 0.05

// MaxGap is the longest span of two samples (the first's first read to the second's last) that
// the pairwise checks still judge. It is kept under the shortest time anything the checks look
// for stays visible on the rig — an evacuation waits 10 s for health checks before it moves a
// client, 1 s at the simulator's time scale — so that nothing happens unseen between two
// judged samples. (A 1 s bound let a whole evacuation of 100 clients fall between two slow
// samples: chaos soak SEED=1, step 59, c0-replicant-2 reported stopped without evacuation.)
const MaxGap = 700 * time.Millisecond

// Checker holds what the invariants need from one sample to the next. The driver tells it what
// the harness itself disrupted; everything else that goes down is the operator's doing.
type Checker struct {
	// Budget is how many nodes of a cluster the operator may have down at once.
	Budget int
	// StaleBound is how long Ready may stay True while a wanted node does not run (EMQX is polled).
	StaleBound time.Duration
	// KeyBound is how long the operator may take to have a deleted API key Secret back.
	KeyBound time.Duration

	mu          sync.Mutex
	prev        *Sample
	checks      int
	pairs, gaps int
	violations  []Violation
	lastReport  map[string]time.Time // invariant+cluster → last violation recorded (one per episode)
	everRunning map[string]bool      // cluster/pod: its node ran since the pod name was last wanted
	disrupted   map[string]*disruption
	staleSince  map[string]time.Time
	pvcs        map[string]map[string]string
	revSince    map[string]time.Time // cluster/role → when its update revision last changed
	incarnation map[string]int       // cluster/pod → how many times a node started on that name
	history     map[string][]stamp   // cluster/pod → incarnations over time
	keyDeleted  map[string]time.Time // cluster → when the harness deleted its API key Secret
	keyUID      map[string]string    // cluster → the UID of the Secret it deleted
	keyGaps     map[string][]window  // cluster → from each deletion to the Secret back, plus KeyBound
	// departed: cluster/pod → the cluster stopped keeping it (scaled in), and it has not served
	// since while kept. A node on its way out goes by the user's wish, also when the user undoes
	// the scale-in a moment later: it counts again once it serves.
	departed map[string]bool
	// held: cluster/pod → a replicant that did not run while no running core ran its EMQX
	// release, and has not run since. EMQX refuses it until the rollout brings such a core (the
	// user changed the image while it was being replaced, or deleted its core): the operator's
	// rollout takes cores down meanwhile by design, so it counts apart until it runs.
	held map[string]bool
}

type disruption struct {
	podUID string // a pod the harness deleted: disrupted until a node runs on another pod
	active bool   // a fault on the node: disrupted while on, then until the node runs again
}

type stamp struct {
	at  time.Time
	inc int
}

type window struct{ from, to time.Time }

// NewChecker returns a checker with the rig's bounds.
func NewChecker(budget int, staleBound, keyBound time.Duration) *Checker {
	return &Checker{Budget: budget, StaleBound: staleBound, KeyBound: keyBound,
		lastReport: map[string]time.Time{}, everRunning: map[string]bool{}, disrupted: map[string]*disruption{},
		staleSince: map[string]time.Time{}, pvcs: map[string]map[string]string{}, revSince: map[string]time.Time{},
		incarnation: map[string]int{}, history: map[string][]stamp{}, keyDeleted: map[string]time.Time{}, keyUID: map[string]string{},
		keyGaps: map[string][]window{}, departed: map[string]bool{}, held: map[string]bool{}}
}

// DisruptPod: the harness deleted (or evicted) this pod.
func (c *Checker) DisruptPod(cluster, pod, uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disrupted[cluster+"/"+pod] = &disruption{podUID: uid}
}

// DisruptNode: the harness switched a fault on for this pod's node; EndDisruption switches it off.
func (c *Checker) DisruptNode(cluster, pod string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disrupted[cluster+"/"+pod] = &disruption{active: true}
}

// EndDisruption: the fault is off; the node counts again once it runs.
func (c *Checker) EndDisruption(cluster, pod string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.disrupted[cluster+"/"+pod]; d != nil {
		d.active = false
	}
}

// Undisrupt: the disruption did not happen (an eviction the PodDisruptionBudget refused).
func (c *Checker) Undisrupt(cluster, pod string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.disrupted, cluster+"/"+pod)
}

// DeletedAPIKey: the harness is deleting the cluster's API key Secret, whose UID is uid; it is
// back once a Secret of another UID is seen.
func (c *Checker) DeletedAPIKey(cluster string, at time.Time, uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keyDeleted[cluster] = at
	c.keyUID[cluster] = uid
}

// Violations found so far, and how many invariant checks ran.
func (c *Checker) Violations() ([]Violation, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Violation{}, c.violations...), c.checks
}

// Judged reports, as a violation, a run in which more than MaxUnjudged of the pairs of samples
// were not judged.
func (c *Checker) Judged(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pairs > 0 && float64(c.gaps) > MaxUnjudged*float64(c.pairs) {
		c.violations = append(c.violations, Violation{At: at, Invariant: Unjudged,
			Detail: fmt.Sprintf("%d of %d pairs of samples spanned more than %s and were not judged", c.gaps, c.pairs, MaxGap)})
	}
}

// Gaps is how many times samples were more than MaxGap apart.
func (c *Checker) Gaps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gaps
}

// Report records a violation the driver found (convergence, panics).
func (c *Checker) Report(v Violation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, v)
}

func (c *Checker) violate(at time.Time, invariant, cluster, format string, args ...any) {
	// One violation per invariant and cluster per 10 s: a broken state is sampled many times.
	k := invariant + " " + cluster
	if last, ok := c.lastReport[k]; ok && at.Sub(last) < 10*time.Second {
		return
	}
	c.lastReport[k] = at
	c.violations = append(c.violations, Violation{At: at, Invariant: invariant, Cluster: cluster, Detail: fmt.Sprintf(format, args...)})
}

// Observe checks one sample against the previous one.
func (c *Checker) Observe(s *Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Checks that compare two samples judge what happened between them; after a gap (the API
	// server was being restarted) they cannot tell what happened first, and skip that pair.
	if c.prev != nil {
		c.pairs++
	}
	gap := c.prev != nil && span(c.prev, s) > MaxGap
	if gap {
		c.gaps++
	}
	for _, name := range sortedNames(s.Clusters) {
		cv := s.Clusters[name]
		var pv *ClusterView
		if c.prev != nil {
			pv = c.prev.Clusters[name]
		}
		pair := pv
		if gap {
			pair = nil
		}
		c.track(s.At, name, cv, pv)
		c.checkDown(s.At, name, cv)
		c.checkPVCs(s.At, name, cv)
		c.checkClients(s.At, name, cv, pair)
		c.checkStale(s.At, name, cv)
		c.checkDeletions(s.At, name, cv, pair)
		c.checkAPIKey(s.At, name, cv)
		c.endDisruptions(name, cv)
	}
	c.prev = s
}

// track keeps the per-name memory: which nodes ran, their incarnations, revision changes.
func (c *Checker) track(at time.Time, name string, cv, pv *ClusterView) {
	for role, set := range cv.Sets {
		if pv == nil || pv.Sets[role].UpdateRevision != set.UpdateRevision {
			c.revSince[name+"/"+role] = at
		}
	}
	for _, pod := range unionPods(cv, pv) {
		k := name + "/" + pod
		n, p := cv.Nodes[pod], cv.Pods[pod]
		_, exists := cv.Pods[pod]
		if !exists && !c.wanted(cv, pod, pv) {
			delete(c.everRunning, k) // departed: a later scale-out starts it afresh
		}
		wasRunning := pv != nil && pv.Nodes[pod].Running && pv.Pods[pod].UID == p.UID
		if n.Running && !wasRunning {
			c.incarnation[k]++
			c.history[k] = append(c.history[k], stamp{at, c.incarnation[k]})
		}
		if n.Running {
			c.everRunning[k] = true
			delete(c.held, k)
		}
		switch {
		case !kept(cv, pod, nil):
			c.departed[k] = true
		case exists && !p.Terminating && n.Running && !n.Evacuating:
			delete(c.departed, k)
		}
		if exists && p.Role == "replicant" && !n.Running && !runningCoreOfRelease(cv, p.Release) {
			c.held[k] = true
		}
	}
}

// runningCoreOfRelease: a core pod of that EMQX release runs its node (false for an unknown
// release: nothing can be said, and the replicant counts as usual).
func runningCoreOfRelease(cv *ClusterView, release string) bool {
	if release == "" {
		return true
	}
	for pod, p := range cv.Pods {
		if p.Role == "core" && p.Release == release && !p.Terminating && cv.Nodes[pod].Running {
			return true
		}
	}
	return false
}

// endDisruptions forgets a harness disruption once the node it hit runs again, on a new pod when
// the harness deleted the old one. It runs after the checks, which may still need to know that a
// pod gone between two samples was the harness's doing.
func (c *Checker) endDisruptions(name string, cv *ClusterView) {
	for _, pod := range unionPods(cv, nil) {
		k := name + "/" + pod
		n, p := cv.Nodes[pod], cv.Pods[pod]
		_, exists := cv.Pods[pod]
		if d := c.disrupted[k]; d != nil && !d.active && n.Running && !n.Evacuating && exists && !p.Terminating &&
			(d.podUID == "" || p.UID != d.podUID) {
			delete(c.disrupted, k)
		}
	}
}

// kept: the pod's ordinal is inside what both its StatefulSet and the spec keep (a node past it
// is departing by the user's wish).
func kept(cv *ClusterView, pod string, pv *ClusterView) bool {
	role, ord := roleOrdinal(cv, pod, pv)
	return role != "" && int32(ord) < min(cv.Sets[role].Replicas, cv.Want[role])
}

// wanted: the pod's ordinal is inside its StatefulSet (in this sample or the previous one).
func (c *Checker) wanted(cv *ClusterView, pod string, pv *ClusterView) bool {
	role, ord := roleOrdinal(cv, pod, pv)
	return role != "" && int32(ord) < cv.Sets[role].Replicas
}

// checkDown: the operator takes at most Budget of the nodes a cluster keeps down at once. A node
// is down when it ran before and now does not run, is being evacuated, or its pod is terminating
// or gone.
func (c *Checker) checkDown(at time.Time, name string, cv *ClusterView) {
	c.checks++
	var down []string
	for _, pod := range unionPods(cv, nil) {
		k := name + "/" + pod
		if !c.everRunning[k] || c.disrupted[k] != nil || c.departed[k] || c.held[k] {
			continue
		}
		// A departing node (the spec no longer wants it, or the StatefulSet already shrank past it)
		// goes by the user's wish, not the budget's; that its clients are evacuated first is
		// checkClients' business.
		if !kept(cv, pod, nil) {
			continue
		}
		p, exists := cv.Pods[pod]
		n := cv.Nodes[pod]
		if !exists || p.Terminating || !n.Running || n.Evacuating {
			down = append(down, pod)
		}
	}
	for k := range c.everRunning {
		pod, ok := strings.CutPrefix(k, name+"/")
		if ok && !contains(unionPods(cv, nil), pod) && c.disrupted[k] == nil && !c.departed[k] && !c.held[k] && kept(cv, pod, c.prevOf(name)) {
			down = append(down, pod) // gone between samples, not back yet
		}
	}
	sort.Strings(down)
	if len(down) > c.Budget {
		c.violate(at, TooManyDown, name, "%d nodes down at once, the budget is %d: %v", len(down), c.Budget, down)
	}
}

func (c *Checker) prevOf(name string) *ClusterView {
	if c.prev == nil {
		return nil
	}
	return c.prev.Clusters[name]
}

// checkPVCs: no PVC is deleted (the clusters keep the default retention: volumes stay).
func (c *Checker) checkPVCs(at time.Time, name string, cv *ClusterView) {
	c.checks++
	seen := c.pvcs[name]
	if seen == nil {
		seen = map[string]string{}
		c.pvcs[name] = seen
	}
	for pvc, uid := range seen {
		if now, ok := cv.PVCs[pvc]; !ok || now != uid {
			c.violate(at, PVCDeleted, name, "PVC %s (uid %s) was deleted", pvc, uid)
			delete(seen, pvc)
		}
	}
	for pvc, uid := range cv.PVCs {
		seen[pvc] = uid
	}
}

// checkClients: clients are lost only from a node being evacuated or one the harness stopped.
func (c *Checker) checkClients(at time.Time, name string, cv, pv *ClusterView) {
	if pv == nil {
		return
	}
	c.checks++
	for pod, before := range pv.Nodes {
		k := name + "/" + pod
		if !before.Running || before.Evacuating || before.Connections == 0 || c.disrupted[k] != nil {
			continue
		}
		if now, ok := cv.Nodes[pod]; !ok || !now.Running {
			c.violate(at, ClientsDropped, name, "node of %s stopped with %d clients, not evacuated", pod, before.Connections)
		}
	}
}

// checkStale: Ready does not stay True for longer than StaleBound while a wanted node does not run.
func (c *Checker) checkStale(at time.Time, name string, cv *ClusterView) {
	c.checks++
	for _, pod := range unionPods(cv, nil) {
		k := name + "/" + pod
		if !cv.Ready || cv.Paused || !kept(cv, pod, nil) || cv.Nodes[pod].Running {
			delete(c.staleSince, k)
			continue
		}
		since, ok := c.staleSince[k]
		if !ok {
			c.staleSince[k] = at
			continue
		}
		if at.Sub(since) > c.StaleBound {
			c.violate(at, StaleReady, name, "Ready=True for %s while the node of %s does not run (bound %s)",
				at.Sub(since).Round(time.Second), pod, c.StaleBound)
		}
	}
}

// checkDeletions: a pod the operator deletes is outdated or departing. A pod made on its
// StatefulSet's update revision after that revision was set, still inside the StatefulSet and
// not deleted by the harness, has nothing to be replaced for: deleting it is a step done twice.
func (c *Checker) checkDeletions(at time.Time, name string, cv, pv *ClusterView) {
	if pv == nil {
		return
	}
	c.checks++
	for pod, before := range pv.Pods {
		if before.Terminating {
			continue
		}
		now, exists := cv.Pods[pod]
		if exists && now.UID == before.UID && !now.Terminating {
			continue
		}
		if d := c.disrupted[name+"/"+pod]; d != nil && d.podUID == before.UID {
			continue
		}
		set := cv.Sets[before.Role]
		if int32(before.Ordinal) >= set.Replicas || before.Revision != set.UpdateRevision {
			continue
		}
		if since := c.revSince[name+"/"+before.Role]; before.Created.After(since.Add(time.Second)) {
			c.violate(at, StepTwice, name, "pod %s (uid %s, made %s on the current revision %s) was deleted again",
				pod, before.UID, before.Created.Format("15:04:05"), before.Revision)
		}
	}
}

// checkAPIKey: a deleted API key Secret is back within KeyBound.
func (c *Checker) checkAPIKey(at time.Time, name string, cv *ClusterView) {
	deleted, ok := c.keyDeleted[name]
	if !ok {
		return
	}
	c.checks++
	if cv.APIKeySecret != "" && cv.APIKeySecret != c.keyUID[name] {
		c.keyGaps[name] = append(c.keyGaps[name], window{deleted, at.Add(c.KeyBound)})
		delete(c.keyDeleted, name)
		return
	}
	if at.Sub(deleted) > c.KeyBound {
		c.violate(at, KeyNotBack, name, "the API key Secret deleted at %s is not back after %s", deleted.Format("15:04:05"), c.KeyBound)
	}
}

// Call is one answered EMQX API call, from the simulator's log.
type Call struct {
	At      time.Time
	Cluster string
	Pod     string
	Path    string
	Status  int
}

// CheckCalls runs the invariants that need the simulator's request log, once at the end: each
// evacuation is started once per node start unless stopped in between, and no call is refused for
// a bad key except while a deleted key Secret is being replaced.
func (c *Checker) CheckCalls(calls []Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].At.Before(calls[j].At) })
	started := map[string]int{} // cluster/pod → the incarnation its running evacuation was started in
	for _, call := range calls {
		k := call.Cluster + "/" + call.Pod
		switch {
		case strings.HasSuffix(call.Path, "/evacuation/start") && call.Status/100 == 2:
			c.checks++
			inc := c.incarnationAt(k, call.At)
			if prev, ok := started[k]; ok && prev == inc {
				c.violate(call.At, StepTwice, call.Cluster, "evacuation of %s started twice in one run of its node", call.Pod)
			}
			started[k] = inc
		case strings.HasSuffix(call.Path, "/evacuation/stop") && call.Status/100 == 2:
			delete(started, k)
		case call.Status == 401:
			c.checks++
			if !c.inKeyGap(call.Cluster, call.At) {
				c.violate(call.At, KeyRefused, call.Cluster, "%s on %s answered 401 outside an API key replacement", call.Path, call.Pod)
			}
		}
	}
	for cluster, at := range c.keyDeleted {
		c.violate(at, KeyNotBack, cluster, "the API key Secret deleted at %s never came back", at.Format("15:04:05"))
	}
}

func (c *Checker) incarnationAt(k string, at time.Time) int {
	inc := 0
	for _, s := range c.history[k] {
		if s.at.After(at) {
			break
		}
		inc = s.inc
	}
	return inc
}

func (c *Checker) inKeyGap(cluster string, at time.Time) bool {
	for _, w := range c.keyGaps[cluster] {
		if !at.Before(w.from) && !at.After(w.to) {
			return true
		}
	}
	if d, ok := c.keyDeleted[cluster]; ok && !at.Before(d) {
		return true
	}
	return false
}

func roleOrdinal(cv *ClusterView, pod string, pv *ClusterView) (string, int) {
	for _, v := range []*ClusterView{cv, pv} {
		if v == nil {
			continue
		}
		if p, ok := v.Pods[pod]; ok {
			return p.Role, p.Ordinal
		}
	}
	// A pod gone from both: its name still says its role and ordinal (<cluster>-<role>-<n>).
	i := strings.LastIndexByte(pod, '-')
	if i < 0 {
		return "", 0
	}
	ord := lifecycle.Ordinal(pod)
	if ord < 0 {
		return "", 0
	}
	for role := range cv.Sets {
		if strings.HasSuffix(pod[:i], "-"+role) {
			return role, ord
		}
	}
	return "", 0
}

func unionPods(cv, pv *ClusterView) []string {
	set := map[string]bool{}
	for _, v := range []*ClusterView{cv, pv} {
		if v == nil {
			continue
		}
		for p := range v.Pods {
			set[p] = true
		}
		for p := range v.Nodes {
			set[p] = true
		}
	}
	return sortedNames(set)
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
