package lifecycle

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture builds a converged cluster: every pod Ready (long ago), every node running.
type fixture struct {
	e     *v2beta1.EMQX
	state State
}

func newFixture(cores, replicants int32) *fixture {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
	e.Spec.CoreTemplate.Spec.Replicas = ptr.To(cores)
	if replicants > 0 {
		e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
		e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To(replicants)
	}
	e.Default()
	f := &fixture{e: e, state: State{Cluster: e, NodesKnown: true, Now: now, Evacuations: map[string]emqxapi.Evacuation{}}}
	f.state.Core = f.role(v2beta1.RoleCore, cores)
	f.state.Replicant = f.role(v2beta1.RoleReplicant, replicants)
	return f
}

func (f *fixture) role(name string, n int32) Role {
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "c-" + name, Generation: 1},
		Spec:   appsv1.StatefulSetSpec{Replicas: ptr.To(n)},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, UpdateRevision: "r1"}}
	r := Role{Name: name, Set: set, Want: n}
	for i := int32(0); i < n; i++ {
		r.Pods = append(r.Pods, f.pod(set.Name, i, "r1"))
		f.state.Nodes = append(f.state.Nodes, emqxapi.Node{Node: NodeName(f.e, fmt.Sprintf("%s-%d", set.Name, i)),
			NodeStatus: "running", Role: name, Edition: "Enterprise", Connections: 10})
	}
	return r
}

func (f *fixture) pod(set string, i int32, rev string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", set, i), UID: "u",
			Labels: map[string]string{appsv1.ControllerRevisionHashLabelKey: rev}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}},
	}
}

func TestConvergedClusterHasNothingToDo(t *testing.T) {
	p := Decide(newFixture(3, 2).state)
	if p.Step.Kind != None || p.Busy || p.Reason != "" || p.CoreReplicas != 3 || p.ReplicantReplicas != 2 {
		t.Errorf("plan = %+v", p)
	}
}

func TestScaleInEvacuatesHighestOrdinalFirst(t *testing.T) {
	f := newFixture(5, 0)
	f.state.Core.Want = 3
	p := Decide(f.state)
	leaving := NodeName(f.e, "c-core-4")
	if p.Step.Kind != StartEvacuation || p.Step.Node != leaving || p.CoreReplicas != 5 {
		t.Fatalf("plan = %+v, want evacuation of %s with 5 replicas kept", p, leaving)
	}
	for _, to := range p.Step.Evacuation.MigrateTo {
		if to == NodeName(f.e, "c-core-3") || to == leaving {
			t.Errorf("clients migrated to %s, which is leaving too", to)
		}
	}
	// Evacuating: keep waiting while clients remain.
	f.state.Evacuations[leaving] = evac(leaving, "evicting_conns", 10, 4)
	f.state.EvacuationStarted = map[string]time.Time{leaving: now.Add(-time.Second)}
	if p := Decide(f.state); p.Step.Kind != None || p.CoreReplicas != 5 || p.Reason != "ScalingIn" {
		t.Errorf("while evacuating: %+v", p)
	}
	// Drained: drop one replica.
	f.state.Evacuations[leaving] = evac(leaving, "waiting_takeover", 10, 0)
	if p := Decide(f.state); p.CoreReplicas != 4 {
		t.Errorf("after the drain: %+v, want 4 replicas", p)
	}
	// The wait is bounded.
	f.state.Evacuations[leaving] = evac(leaving, "evicting_conns", 10, 4)
	f.state.EvacuationStarted[leaving] = now.Add(-time.Hour)
	if p := Decide(f.state); p.CoreReplicas != 4 {
		t.Errorf("stuck evacuation: %+v, want the scale-in to go on", p)
	}
}

// TestScaleInKeepsACoreWhoseDSReplicasHaveNotMoved: a departing core named in KeepPod keeps its
// pod (no evacuation either: clients stay until its data can go), even with no clients; once
// released, the scale-in goes on.
func TestScaleInKeepsACoreWhoseDSReplicasHaveNotMoved(t *testing.T) {
	f := newFixture(4, 0)
	f.state.Core.Want = 3
	leaving := NodeName(f.e, "c-core-3")
	f.state.Nodes[3].Connections = 0
	f.state.KeepPod = map[string]string{leaving: "site 5C60 still holds 4 shard replicas of messages"}
	p := Decide(f.state)
	if p.Step.Kind != None || p.CoreReplicas != 4 || p.Reason != "ScalingIn" || !p.Busy {
		t.Fatalf("plan = %+v, want the core kept at 4 replicas", p)
	}
	if want := "site 5C60 still holds"; !strings.Contains(p.Message, want) {
		t.Errorf("message %q does not say why: %q", p.Message, want)
	}
	f.state.KeepPod = nil
	if p := Decide(f.state); p.CoreReplicas != 3 {
		t.Errorf("released: %+v, want 3 replicas", p)
	}
}

// TestReplacedStatefulSetKeepsItsSize: while a StatefulSet is replaced (deleted, pods orphaned)
// during a scale-in, the new one is made at the size the pods have, so the scale-in goes on node
// by node, each evacuated, instead of the new StatefulSet deleting the extra pods at once.
func TestReplacedStatefulSetKeepsItsSize(t *testing.T) {
	f := newFixture(5, 3)
	f.state.Core.Want, f.state.Replicant.Want = 3, 1
	f.state.Core.Set, f.state.Replicant.Set = nil, nil
	p := Decide(f.state)
	if p.CoreReplicas != 5 || p.ReplicantReplicas != 3 {
		t.Errorf("plan = %+v, want the pods' sizes 5 and 3 kept", p)
	}
	f.state.Core.Pods, f.state.Replicant.Pods = nil, nil
	if p := Decide(f.state); p.CoreReplicas != 3 || p.ReplicantReplicas != 1 {
		t.Errorf("a new cluster: plan = %+v, want the spec's sizes", p)
	}
}

func evac(node, state string, initial, current int64) emqxapi.Evacuation {
	ev := emqxapi.Evacuation{Node: node, State: state}
	ev.Stats.InitialConnected, ev.Stats.CurrentConnected = initial, current
	return ev
}

func TestReplicantsScaleInBeforeCores(t *testing.T) {
	f := newFixture(3, 3)
	f.state.Core.Want, f.state.Replicant.Want = 2, 1
	p := Decide(f.state)
	if p.Step.Node != NodeName(f.e, "c-replicant-2") {
		t.Errorf("first departing node %s", p.Step.Node)
	}
}

func TestForceLeaveOnlyDepartedCores(t *testing.T) {
	f := newFixture(3, 0)
	f.state.Core.Set.Spec.Replicas = ptr.To[int32](2)
	f.state.Core.Want = 2
	f.state.Core.Pods = f.state.Core.Pods[:2]
	gone := NodeName(f.e, "c-core-2")
	f.state.Nodes[2] = emqxapi.Node{Node: gone, NodeStatus: "stopped", Role: "core"}
	if p := Decide(f.state); p.Step.Kind != ForceLeave || p.Step.Node != gone {
		t.Errorf("plan = %+v, want force_leave of %s", p, gone)
	}
	// A stopped core whose ordinal is inside the StatefulSet is restarting: leave it alone.
	f = newFixture(3, 0)
	f.state.Core.Pods = f.state.Core.Pods[:2]
	f.state.Nodes[2] = emqxapi.Node{Node: NodeName(f.e, "c-core-2"), NodeStatus: "stopped", Role: "core"}
	if p := Decide(f.state); p.Step.Kind == ForceLeave {
		t.Errorf("force_leave of a restarting core: %+v", p)
	}
}

func TestStrayEvacuationIsStopped(t *testing.T) {
	f := newFixture(3, 0)
	node := NodeName(f.e, "c-core-1")
	f.state.Evacuations[node] = evac(node, "evicting_conns", 0, 0)
	if p := Decide(f.state); p.Step.Kind != StopEvacuation || p.Step.Node != node {
		t.Errorf("plan = %+v", p)
	}
	// A pod being deleted (a drain) is evacuating on purpose.
	f.state.Core.Pods[1].DeletionTimestamp = &metav1.Time{Time: now}
	if p := Decide(f.state); p.Step.Kind == StopEvacuation {
		t.Errorf("stopped the evacuation of a terminating pod: %+v", p)
	}
}

func TestStragglerIsInvitedAfterTheTimeout(t *testing.T) {
	f := newFixture(3, 0)
	late := NodeName(f.e, "c-core-2")
	f.state.Nodes = f.state.Nodes[:2]
	f.state.Core.Pods[2].Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-time.Second))
	if p := Decide(f.state); p.Step.Kind == Invite {
		t.Errorf("invited before the join timeout: %+v", p)
	}
	f.state.Core.Pods[2].Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-time.Minute))
	if p := Decide(f.state); p.Step.Kind != Invite || p.Step.Node != late {
		t.Errorf("plan = %+v, want an invite of %s", p, late)
	}
}

func TestRolloutOrderOneCoreThenReplicantsThenCores(t *testing.T) {
	f := newFixture(3, 2)
	outdate(&f.state.Core)
	outdate(&f.state.Replicant)
	var order []string
	for i := 0; i < 5; i++ {
		p := Decide(f.state)
		if p.Step.Kind == StartEvacuation {
			f.state.Evacuations[p.Step.Node] = evac(p.Step.Node, "waiting_takeover", 10, 0)
			p = Decide(f.state)
		}
		if p.Step.Kind != ReplacePod {
			t.Fatalf("step %d: %+v", i, p)
		}
		order = append(order, p.Step.Pod.Name)
		f.replaced(p.Step.Pod.Name)
	}
	want := "[c-core-2 c-replicant-1 c-replicant-0 c-core-1 c-core-0]"
	if fmt.Sprint(order) != want {
		t.Errorf("rollout order %v, want %s", order, want)
	}
	if p := Decide(f.state); p.Busy || p.Step.Kind != None {
		t.Errorf("after the rollout: %+v", p)
	}
}

func outdate(r *Role) { r.Set.Status.UpdateRevision = "r2" }

// replaced plays the StatefulSet controller and the new node: the pod comes back on the new
// revision, Ready and joined, and its evacuation is gone.
func (f *fixture) replaced(pod string) {
	for _, r := range []*Role{&f.state.Core, &f.state.Replicant} {
		for i := range r.Pods {
			if r.Pods[i].Name == pod {
				r.Pods[i].Labels[appsv1.ControllerRevisionHashLabelKey] = r.Set.Status.UpdateRevision
			}
		}
	}
	delete(f.state.Evacuations, NodeName(f.e, pod))
}

func TestRolloutNeverTakesASecondNodeDown(t *testing.T) {
	f := newFixture(3, 0)
	outdate(&f.state.Core)
	f.replaced("c-core-2")
	// The replaced pod does not come up (bad image): nothing else is touched, and the reason says why.
	f.state.Core.Pods[2].Status.Conditions[0].Status = corev1.ConditionFalse
	f.state.Core.Pods[2].Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
	p := Decide(f.state)
	if p.Step.Kind != None || p.Reason != "RolloutBlocked" {
		t.Fatalf("plan = %+v, want blocked", p)
	}
	// The spec is fixed (new revision r3): the down pod is outdated now and is replaced first.
	f.state.Core.Set.Status.UpdateRevision = "r3"
	if p := Decide(f.state); p.Step.Kind != ReplacePod || p.Step.Pod.Name != "c-core-2" {
		t.Errorf("after the fix: %+v, want c-core-2 replaced", p)
	}
}

func TestNothingRiskyWhileEMQXIsUnreachable(t *testing.T) {
	f := newFixture(3, 0)
	f.state.Core.Want = 2
	outdate(&f.state.Core)
	f.state.NodesKnown, f.state.Nodes = false, nil
	p := Decide(f.state)
	if p.Step.Kind != None || p.CoreReplicas != 3 || p.Reason != "EMQXUnreachable" {
		t.Errorf("plan = %+v", p)
	}
}

func TestOpenSourceEditionScalesInWithoutEvacuation(t *testing.T) {
	f := newFixture(3, 0)
	for i := range f.state.Nodes {
		f.state.Nodes[i].Edition = "Opensource"
	}
	f.state.Core.Want = 2
	if p := Decide(f.state); p.Step.Kind != None || p.CoreReplicas != 2 {
		t.Errorf("plan = %+v", p)
	}
}

// A replicant on the new release before any core (replaced while it was down, or recreated after
// a deletion) is refused by EMQX until a core of its release exists. Neither inviting it again
// nor waiting for it may hold the rollout that brings that core.
func TestReplicantAheadOfEveryCoreDoesNotHoldTheRollout(t *testing.T) {
	f := newFixture(3, 2)
	for _, r := range []*Role{&f.state.Core, &f.state.Replicant} {
		for i := range r.Pods {
			r.Pods[i].Spec.Containers = []corev1.Container{{Name: EMQXContainer, Image: "emqx:6.1.4"}}
		}
	}
	outdate(&f.state.Core)
	outdate(&f.state.Replicant)
	f.state.Replicant.Pods[1].Status.Conditions[0].Status = corev1.ConditionFalse
	p := Decide(f.state)
	if p.Step.Kind != ReplacePod || p.Step.Pod.Name != "c-replicant-1" {
		t.Fatalf("plan = %+v, want the down replicant replaced first", p)
	}
	// It comes back on 6.1.5, Ready (its /status answers) but refused by the 6.1.4 cores.
	f.replaced("c-replicant-1")
	f.state.Replicant.Pods[1].Spec.Containers[0].Image = "emqx:6.1.5"
	f.state.Replicant.Pods[1].Status.Conditions[0].Status = corev1.ConditionTrue
	late := NodeName(f.e, "c-replicant-1")
	var nodes []emqxapi.Node
	for _, n := range f.state.Nodes {
		if n.Node != late {
			nodes = append(nodes, n)
		}
	}
	f.state.Nodes = nodes
	p = Decide(f.state)
	if p.Step.Kind == Invite {
		t.Fatalf("invited a replicant no core can take: %+v", p)
	}
	if p.Step.Kind == StartEvacuation {
		f.state.Evacuations[p.Step.Node] = evac(p.Step.Node, "waiting_takeover", 10, 0)
		p = Decide(f.state)
	}
	if p.Step.Kind != ReplacePod || p.Step.Pod.Name != "c-core-2" {
		t.Fatalf("plan = %+v, want the first core replaced", p)
	}
	// Once a core runs 6.1.5 (from a mirror: the release counts, not the reference) the replicant
	// is an ordinary straggler again: invited after the timeout.
	f.replaced("c-core-2")
	f.state.Core.Pods[2].Spec.Containers[0].Image = "mirror.example/emqx:6.1.5"
	if p := Decide(f.state); p.Step.Kind != Invite || p.Step.Node != late {
		t.Errorf("plan = %+v, want an invite of %s", p, late)
	}
}

// A core already deleted for the rollout but not yet back does not count as the core on the new
// revision: the next pod waits, whatever the terminating pod still reads.
func TestTerminatingCoreHoldsTheNextReplacement(t *testing.T) {
	f := newFixture(3, 2)
	outdate(&f.state.Core)
	outdate(&f.state.Replicant)
	f.replaced("c-core-2")
	f.state.Core.Pods[2].DeletionTimestamp = ptr.To(metav1.NewTime(now))
	p := Decide(f.state)
	if p.Step.Kind != None || !strings.Contains(p.Message, "c-core-2 is terminating") {
		t.Fatalf("plan = %+v, want a wait for c-core-2", p)
	}
}

// The spec changes again while a core is being evacuated for the previous change: the order would
// now start with another core, but the drain under way is finished first, so only one node is down.
func TestRolloutFinishesTheDrainUnderWayWhenTheSpecChangesAgain(t *testing.T) {
	f := newFixture(3, 0)
	outdate(&f.state.Core)
	f.replaced("c-core-2")
	p := Decide(f.state)
	if p.Step.Kind != StartEvacuation || p.Step.Node != NodeName(f.e, "c-core-1") {
		t.Fatalf("plan = %+v, want c-core-1 evacuated next", p)
	}
	f.state.Evacuations[p.Step.Node] = evac(p.Step.Node, "evicting_conns", 10, 5)
	// A new revision: no core runs it, so the order would begin again with c-core-2.
	f.state.Core.Set.Status.UpdateRevision = "r3"
	p = Decide(f.state)
	if p.Step.Kind == StartEvacuation {
		t.Fatalf("a second evacuation started while c-core-1's runs: %+v", p)
	}
	f.state.Evacuations[NodeName(f.e, "c-core-1")] = evac(NodeName(f.e, "c-core-1"), "waiting_takeover", 10, 0)
	if p := Decide(f.state); p.Step.Kind != ReplacePod || p.Step.Pod.Name != "c-core-1" {
		t.Errorf("plan = %+v, want c-core-1 replaced once drained", p)
	}
}

// images sets every pod's EMQX image, and each StatefulSet's template: the release pods made
// from now on run.
func (f *fixture) images(pods, template string) {
	for _, r := range []*Role{&f.state.Core, &f.state.Replicant} {
		for i := range r.Pods {
			r.Pods[i].Spec.Containers = []corev1.Container{{Name: EMQXContainer, Image: pods}}
		}
		r.Set.Spec.Template.Spec.Containers = []corev1.Container{{Name: EMQXContainer, Image: template}}
	}
}

// A replicant down on the old revision (recreated a moment ago) while the new revision brings a
// release no core runs: replaced now, it would wait for a core of that release, and that core's
// evacuation would be a second node down. It is left to start, unless it was made StuckAfter ago
// or is crashing; with a release the cores run, it is replaced at once as before.
func TestADownReplicantThatWouldWaitForItsCoreIsLeftToStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		template string
		age      time.Duration
		waiting  string // its container's waiting reason
		replaced bool
	}{
		{"starting, new release", "emqx:6.1.5", 10 * time.Second, "ContainerCreating", false},
		{"made long ago, new release", "emqx:6.1.5", StuckAfter + time.Second, "", true},
		{"crashing, new release", "emqx:6.1.5", 10 * time.Second, "CrashLoopBackOff", true},
		{"starting, release the cores run (a config change)", "emqx:6.1.4", 10 * time.Second, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(3, 2)
			f.images("emqx:6.1.4", tc.template)
			outdate(&f.state.Core)
			outdate(&f.state.Replicant)
			down := &f.state.Replicant.Pods[1]
			down.CreationTimestamp = metav1.NewTime(now.Add(-tc.age))
			down.Status.Conditions[0] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: down.CreationTimestamp}
			if tc.waiting != "" {
				down.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: EMQXContainer,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: tc.waiting}}}}
			}
			p := Decide(f.state)
			if got := p.Step.Kind == ReplacePod && p.Step.Pod.Name == "c-replicant-1"; got != tc.replaced {
				t.Fatalf("plan = %+v, want c-replicant-1 replaced: %v", p, tc.replaced)
			}
			if !tc.replaced && (p.Step.Kind != None || !strings.Contains(p.Message, "c-replicant-1 is not ready")) {
				t.Errorf("plan = %+v, want a wait for c-replicant-1", p)
			}
		})
	}
}

// The spec changes again while a replicant is being evacuated for the previous revision, and no
// core runs the new one: the replicant must wait for a core now, so its evacuation is ended
// before the core's starts — never two evacuations at once.
func TestAReplicantDrainedForAnEarlierRevisionStopsWhenACoreMustGoFirst(t *testing.T) {
	f := newFixture(3, 2)
	outdate(&f.state.Core)
	outdate(&f.state.Replicant)
	f.replaced("c-core-2")
	p := Decide(f.state)
	if p.Step.Kind != StartEvacuation || p.Step.Node != NodeName(f.e, "c-replicant-1") {
		t.Fatalf("plan = %+v, want c-replicant-1 evacuated next", p)
	}
	f.state.Evacuations[p.Step.Node] = evac(p.Step.Node, "evicting_conns", 10, 5)
	f.state.Core.Set.Status.UpdateRevision, f.state.Replicant.Set.Status.UpdateRevision = "r3", "r3"
	p = Decide(f.state)
	if p.Step.Kind != StopEvacuation || p.Step.Node != NodeName(f.e, "c-replicant-1") {
		t.Fatalf("plan = %+v, want c-replicant-1's evacuation ended first", p)
	}
	delete(f.state.Evacuations, NodeName(f.e, "c-replicant-1"))
	if p := Decide(f.state); p.Step.Kind != StartEvacuation || p.Step.Node != NodeName(f.e, "c-core-2") {
		t.Errorf("plan = %+v, want the first core evacuated next", p)
	}
}

// Right after a spec change the StatefulSet's status lags: a pod being drained for the rollout
// cannot be told outdated yet, and its evacuation is kept, not ended and started again.
func TestAnEvacuationIsKeptWhileTheStatefulSetStatusLags(t *testing.T) {
	f := newFixture(3, 0)
	outdate(&f.state.Core)
	node := NodeName(f.e, "c-core-2")
	f.state.Evacuations[node] = evac(node, "evicting_conns", 10, 5)
	f.state.Core.Set.Generation = 2 // the spec changed again; the controller has not looked yet
	if p := Decide(f.state); p.Step.Kind == StopEvacuation {
		t.Errorf("plan = %+v: ended the evacuation of a pod whose revision is not known yet", p)
	}
	f.state.Core.Set.Status.ObservedGeneration = 2
	f.state.Core.Set.Status.UpdateRevision = "r1" // c-core-2 stays after all
	if p := Decide(f.state); p.Step.Kind != StopEvacuation || p.Step.Node != node {
		t.Errorf("plan = %+v, want the evacuation of the pod that stays ended", p)
	}
}

// A departing node the answering node does not list: stopped (its pod not Ready) it goes at
// once; with its pod Ready it may serve clients in another cluster (a split), so the scale-in
// waits for it to join — unless the cluster cannot evacuate anyway. The wait counts from when the
// node was first seen unlisted (not from the pod's Ready), and ends StuckAfter later; a node whose
// own API then says nothing goes (TestANodeOutsideTheClusterIsEvacuatedThroughItsOwnAPI has the
// rest).
func TestAnUnlistedNodeWithAReadyPodIsNotRemovedUnevacuated(t *testing.T) {
	for _, tc := range []struct {
		name        string
		role        string
		ready       bool
		noEvacution bool
		removed     bool
		waitNote    string
	}{
		{"replicant, pod Ready", v2beta1.RoleReplicant, true, false, false, "c-replicant-1 is Ready but the answering node does not list"},
		{"replicant, pod not Ready", v2beta1.RoleReplicant, false, false, true, ""},
		{"core, pod Ready", v2beta1.RoleCore, true, false, false, "c-core-2 is Ready but the answering node does not list"},
		{"core, pod not Ready", v2beta1.RoleCore, false, false, true, ""},
		{"core, pod Ready, no evacuation", v2beta1.RoleCore, true, true, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(3, 2)
			f.images("emqx:6.1.4", "emqx:6.1.4")
			role, leaving, want := &f.state.Replicant, "c-replicant-1", int32(1)
			if tc.role == v2beta1.RoleCore {
				f.state.Replicant.Want, f.state.Replicant.Set.Spec.Replicas, f.state.Replicant.Pods = 0, ptr.To[int32](0), nil
				role, leaving, want = &f.state.Core, "c-core-2", 2
			}
			role.Want = want
			node := NodeName(f.e, leaving)
			var nodes []emqxapi.Node
			for _, n := range f.state.Nodes {
				if tc.noEvacution {
					n.Edition = "Opensource"
				}
				if n.Node != node && (tc.role == v2beta1.RoleReplicant || n.Role == v2beta1.RoleCore) {
					nodes = append(nodes, n)
				}
			}
			f.state.Nodes = nodes
			po := role.pod(leaving)
			po.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-10 * time.Second)) // inside the join timeout
			if !tc.ready {
				po.Status.Conditions[0].Status = corev1.ConditionFalse
			}
			removed := func(p Plan) bool {
				if tc.role == v2beta1.RoleCore {
					return p.CoreReplicas == want
				}
				return p.ReplicantReplicas == want
			}
			f.state.UnlistedSince = map[string]time.Time{node: now.Add(-10 * time.Second)}
			p := Decide(f.state)
			if removed(p) != tc.removed || p.Step.Kind != None {
				t.Fatalf("plan = %+v, want %s removed: %v, and no step", p, leaving, tc.removed)
			}
			if tc.removed {
				return
			}
			if !p.Busy || !strings.Contains(p.Message, tc.waitNote) {
				t.Errorf("message %q, want a wait saying %q", p.Message, tc.waitNote)
			}
			// Ready past the join timeout: invited (the invite's own gate judges its cluster). A
			// pod Ready for an hour is no reason to stop it unevacuated: the wait counts from when
			// its node was first seen unlisted.
			po.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-time.Hour))
			f.state.UnlistedSince[node] = now.Add(-time.Minute)
			if p := Decide(f.state); p.Step.Kind != Invite || p.Step.Node != node {
				t.Errorf("past the join timeout: plan = %+v, want %s invited", p, leaving)
			}
			// Still unlisted StuckAfter after it was first seen so, it cannot join: no more
			// invites, and with its own API silent (no Outsiders entry) it goes.
			f.state.UnlistedSince[node] = now.Add(-StuckAfter)
			if p := Decide(f.state); !removed(p) || p.Step.Kind != None {
				t.Errorf("unlisted for StuckAfter: plan = %+v, want %s removed", p, leaving)
			}
		})
	}
}

// The spec changes while a replicant is being evacuated (for the previous revision, or for a
// scale-in the user then undid), and the core StatefulSet's status catches up before the
// replicant one's: until both have, nothing new starts — never a core's evacuation beside the
// replicant's (chaos soak SEED=1, c0 at 14:15:34 and c2 at 14:23:48).
func TestNothingStartsWhileOneStatefulSetHasNotSeenItsSpec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(f *fixture)
	}{
		{"replicant drained for the previous revision", func(f *fixture) {
			outdate(&f.state.Replicant)
		}},
		{"replicant drained for a scale-in the user undid", func(f *fixture) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(3, 1)
			tc.prepare(f)
			node := NodeName(f.e, "c-replicant-0")
			f.state.Evacuations[node] = evac(node, "evicting_conns", 10, 5)
			// The spec changes again: the core StatefulSet's status has caught up (every core is
			// outdated), the replicant one's not yet.
			f.state.Core.Set.Status.UpdateRevision = "r3"
			f.state.Replicant.Set.Generation = 2
			p := Decide(f.state)
			if p.Step.Kind != None || p.Reason != "WaitingForStatefulSet" || p.Role != v2beta1.RoleReplicant || !p.Busy {
				t.Fatalf("plan = %+v, want a wait for the replicant StatefulSet", p)
			}
			// Caught up: the replicant is outdated too, and its evacuation ends before a core's starts.
			f.state.Replicant.Set.Status.ObservedGeneration, f.state.Replicant.Set.Status.UpdateRevision = 2, "r3"
			if p := Decide(f.state); p.Step.Kind != StopEvacuation || p.Step.Node != node {
				t.Fatalf("plan = %+v, want %s's evacuation ended first", p, node)
			}
		})
	}
}

// The evacuation asks EMQX to wait the spec's waitHealthCheck for load balancers, and the wait for
// it to finish allows for that.
func TestEvacuationWaitsForLoadBalancersAsTheSpecSays(t *testing.T) {
	f := newFixture(3, 0)
	f.e.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck = ptr.To(int32(45))
	f.e.Spec.CoreTemplate.Spec.Replicas = ptr.To(int32(2))
	f.state.Core.Want = 2
	p := Decide(f.state)
	if p.Step.Kind != StartEvacuation || p.Step.Evacuation.WaitHealthCheck != 45 {
		t.Fatalf("plan = %+v, want an evacuation waiting 45 s for health checks", p)
	}
	if got, want := evacuationBound(f.e, 0), (45+10)*time.Second+evacuationMargin; got != want {
		t.Errorf("evacuation bound %s, want %s", got, want)
	}
}

// The image changes again mid-rollout (6.1.4 → 6.1.5 → 6.1.6): c-core-2 and the replicants run
// 6.1.5, the other cores 6.1.4. The first core to go is the highest ordinal whose release another
// core also runs or no replicant needs: c-core-2 is the replicants' only core of their release.
func TestTheFirstCoreToGoIsNotTheReplicantsLastCoreOfTheirRelease(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		core2, core1, replica string // EMQX images of c-core-2, c-core-1 (and c-core-0), the replicants
		want                  string
	}{
		{"c-core-2 is the replicants' last core", "emqx:6.1.5", "emqx:6.1.4", "emqx:6.1.5", "c-core-1"},
		{"every core runs the replicants' release", "emqx:6.1.5", "emqx:6.1.5", "emqx:6.1.5", "c-core-2"},
		{"no replicant runs c-core-2's release", "emqx:6.1.5", "emqx:6.1.4", "emqx:6.1.4", "c-core-2"},
		{"a mirror of the same release counts", "emqx:6.1.5", "mirror.example/emqx:6.1.5", "emqx:6.1.5", "c-core-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(3, 2)
			f.images(tc.core1, "emqx:6.1.6")
			f.state.Core.Pods[2].Spec.Containers[0].Image = tc.core2
			for i := range f.state.Replicant.Pods {
				f.state.Replicant.Pods[i].Spec.Containers[0].Image = tc.replica
			}
			outdate(&f.state.Core)
			outdate(&f.state.Replicant)
			p := Decide(f.state)
			if p.Step.Kind != StartEvacuation || p.Step.Node != NodeName(f.e, tc.want) {
				t.Fatalf("plan = %+v, want %s evacuated first", p, tc.want)
			}
			f.state.Evacuations[p.Step.Node] = evac(p.Step.Node, "waiting_takeover", 10, 0)
			if p := Decide(f.state); p.Step.Kind != ReplacePod || p.Step.Pod.Name != tc.want {
				t.Errorf("plan = %+v, want %s replaced once drained", p, tc.want)
			}
		})
	}
}

// The user scales the replicants in while the only core is being evacuated for a rollout: the
// departing replicant has nowhere to send its clients. Stopped now it would drop them; instead
// the core's evacuation is ended so it takes them, and the rollout evacuates it again after the
// scale-in. A core already terminating comes back by itself and is waited for.
func TestAScaleInEndsTheRolloutsEvacuationOfTheOnlyNodeThatStays(t *testing.T) {
	f := newFixture(1, 1)
	outdate(&f.state.Core)
	core, leaving := NodeName(f.e, "c-core-0"), NodeName(f.e, "c-replicant-0")
	f.state.Evacuations[core] = evac(core, "evicting_conns", 10, 5)
	f.state.Replicant.Want = 0
	p := Decide(f.state)
	if p.Step.Kind != StopEvacuation || p.Step.Node != core || p.ReplicantReplicas != 1 {
		t.Fatalf("plan = %+v, want %s's evacuation ended and the replicant kept", p, core)
	}
	f.state.Core.Pods[0].DeletionTimestamp = ptr.To(metav1.NewTime(now))
	if p := Decide(f.state); p.Step.Kind != None || p.ReplicantReplicas != 1 || !strings.Contains(p.Message, "until "+core+" is back") {
		t.Fatalf("plan = %+v, want a wait for %s", p, core)
	}
	// With no clients on the replicant, or no evacuation beside it, nothing changes.
	f.state.Core.Pods[0].DeletionTimestamp = nil
	f.state.Nodes[1].Connections = 0
	if p := Decide(f.state); p.ReplicantReplicas != 0 {
		t.Errorf("plan = %+v, want the empty replicant removed", p)
	}
	f.state.Nodes[1].Connections = 10
	delete(f.state.Evacuations, core)
	if p := Decide(f.state); p.Step.Kind != StartEvacuation || p.Step.Node != leaving {
		t.Errorf("plan = %+v, want %s evacuated to the core", p, leaving)
	}
}

// The image changes again after a replicant was replaced: it came back on a release no core
// runs, and the next change makes it outdated too. Ready or not, it has not joined and never
// will; it is replaced before the rollout evacuates anything, and not while an evacuation is
// under way.
func TestAStrandedReplicantIsReplacedBeforeTheNextEvacuation(t *testing.T) {
	f := newFixture(3, 2)
	f.images("emqx:6.1.4", "emqx:6.1.6")
	stranded := &f.state.Replicant.Pods[1]
	stranded.Spec.Containers[0].Image = "emqx:6.1.5"
	node := NodeName(f.e, stranded.Name)
	var nodes []emqxapi.Node
	for _, n := range f.state.Nodes {
		if n.Node != node {
			nodes = append(nodes, n)
		}
	}
	f.state.Nodes = nodes
	outdate(&f.state.Core)
	outdate(&f.state.Replicant)
	// Unlisted is the answering node's view: it may serve clients in a cluster of its own. Its
	// own API says how many; they are evacuated through it first.
	f.state.Outsiders = map[string]Outsider{node: {Connections: 100}}
	p := Decide(f.state)
	if p.Step.Kind != EvacuateOutsider || p.Step.Node != node {
		t.Fatalf("plan = %+v, want %s evacuated through its own API first", p, node)
	}
	f.state.Outsiders = map[string]Outsider{node: {}}
	p = Decide(f.state)
	if p.Step.Kind != ReplacePod || p.Step.Pod.Name != stranded.Name {
		t.Fatalf("plan = %+v, want %s replaced first", p, stranded.Name)
	}
	core := NodeName(f.e, "c-core-2")
	f.state.Evacuations[core] = evac(core, "evicting_conns", 10, 5)
	if p := Decide(f.state); p.Step.Kind == ReplacePod && p.Step.Pod.Name == stranded.Name {
		t.Fatalf("plan = %+v, want %s's evacuation finished first", p, core)
	}
}

// The evacuation asks EMQX to wait the spec's waitTakeover (an explicit 0 included, its default
// when unset) for sessions to be taken over, and the wait for it to finish allows for that.
func TestEvacuationWaitsForTakeoverAsTheSpecSays(t *testing.T) {
	for _, tc := range []struct {
		set  *int32
		want int32
	}{
		{nil, v2beta1.DefaultWaitTakeover},
		{ptr.To(int32(0)), 0},
		{ptr.To(int32(25)), 25},
	} {
		f := newFixture(3, 0)
		f.e.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover = tc.set
		f.e.Spec.CoreTemplate.Spec.Replicas = ptr.To(int32(2))
		f.state.Core.Want = 2
		p := Decide(f.state)
		if p.Step.Kind != StartEvacuation || p.Step.Evacuation.WaitTakeover != tc.want {
			t.Fatalf("waitTakeover %v: plan = %+v, want an evacuation waiting %d s for takeovers", ptr.Deref(tc.set, -1), p, tc.want)
		}
		if got, want := evacuationBound(f.e, 0), time.Duration(v2beta1.WaitHealthCheckSeconds+tc.want)*time.Second+evacuationMargin; got != want {
			t.Errorf("waitTakeover %v: evacuation bound %s, want %s", ptr.Deref(tc.set, -1), got, want)
		}
	}
}

// A node must have been ready for the spec's initialDelaySeconds (an explicit 0 included, its
// default when unset) before the next one may go.
func TestTheNextNodeWaitsTheSpecsInitialDelay(t *testing.T) {
	for _, tc := range []struct {
		set   *int32
		waits bool // for a node ready 5 s ago
	}{
		{nil, true}, // the default, 10 s
		{ptr.To(int32(0)), false},
		{ptr.To(int32(3)), false},
		{ptr.To(int32(30)), true},
	} {
		f := newFixture(3, 0)
		f.e.Spec.UpdateStrategy.InitialDelaySeconds = tc.set
		f.state.Core.Pods[2].Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-5 * time.Second))
		reason, msg := unhealthy(&f.state)
		if waits := reason != ""; waits != tc.waits {
			t.Errorf("initialDelaySeconds %v: %q %q, want waiting %t", ptr.Deref(tc.set, -1), reason, msg, tc.waits)
		}
	}
}
