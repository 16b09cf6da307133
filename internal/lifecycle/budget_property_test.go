package lifecycle

import (
	"fmt"
	"math/rand"
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

// randomState is a cluster caught at a random moment: sizes being changed, revisions being rolled,
// StatefulSet statuses behind their specs, pods missing, not ready or terminating, nodes stopped or
// unlisted (faults the operator did not make), and at most one node evacuating.
func randomState(r *rand.Rand) State {
	images := []string{"emqx/emqx-enterprise:5.8.6", "emqx/emqx-enterprise:5.9.1"}
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
	wantCores, wantRepl := int32(1+r.Intn(4)), int32(r.Intn(4))
	e.Spec.CoreTemplate.Spec.Replicas = ptr.To(wantCores)
	if wantRepl > 0 || r.Intn(2) == 0 {
		e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
		e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To(wantRepl)
	}
	e.Default()
	s := State{Cluster: e, NodesKnown: true, Now: now, Evacuations: map[string]emqxapi.Evacuation{}, EvacuationStarted: map[string]time.Time{}}
	role := func(name string, want int32) Role {
		cur := max(0, want+int32(r.Intn(3))-1) // scaling out, steady or scaling in
		gen := int64(1 + r.Intn(2))
		observed := gen
		if r.Intn(4) == 0 {
			observed = gen - 1
		}
		revs := []string{"r1", "r2"}
		set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "c-" + name, Generation: gen},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(cur), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: EMQXContainer, Image: images[r.Intn(2)]}}}}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, UpdateRevision: revs[r.Intn(2)]}}
		ro := Role{Name: name, Set: set, Want: want}
		for i := int32(0); i < cur; i++ {
			if r.Intn(30) == 0 {
				continue // pod missing
			}
			created := now.Add(-time.Hour)
			if r.Intn(5) == 0 {
				created = now.Add(-10 * time.Second) // recreated a moment ago
			}
			pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c-%s-%d", name, i), UID: "u", CreationTimestamp: metav1.NewTime(created),
				Labels: map[string]string{appsv1.ControllerRevisionHashLabelKey: revs[r.Intn(2)]}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: EMQXContainer, Image: images[r.Intn(2)]}}}}
			ready := r.Intn(15) != 0
			status := corev1.ConditionFalse
			if ready {
				status = corev1.ConditionTrue
			}
			since := now.Add(-time.Hour)
			if r.Intn(5) == 0 {
				since = now.Add(-2 * time.Second) // within initialDelaySeconds
			}
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(since)}}
			if r.Intn(40) == 0 {
				pod.DeletionTimestamp = &metav1.Time{Time: now}
			}
			ro.Pods = append(ro.Pods, pod)
			node := NodeName(e, pod.Name)
			if r.Intn(40) == 0 {
				continue // not listed
			}
			st := "running"
			if !ready && r.Intn(2) == 0 {
				st = "stopped"
			}
			conns := int64(10)
			if r.Intn(6) == 0 {
				conns = 0
			}
			s.Nodes = append(s.Nodes, emqxapi.Node{Node: node, NodeStatus: st, Role: name, Edition: "Enterprise", Connections: conns})
			// At most one evacuation: the operator starts one at a time, which is what is tested.
			if st == "running" && len(s.Evacuations) == 0 && r.Intn(7) == 0 {
				ev := emqxapi.Evacuation{Node: node, State: "evicting_conns"}
				ev.Stats.InitialConnected, ev.Stats.CurrentConnected = 10, 5
				if r.Intn(3) == 0 {
					ev.State, ev.Stats.CurrentConnected = "waiting_takeover", 0 // clients gone
				}
				s.Evacuations[node] = ev
				s.EvacuationStarted[node] = now.Add(-time.Second)
				if r.Intn(4) == 0 {
					s.EvacuationStarted[node] = now.Add(-time.Hour) // past its bound
				}
			}
		}
		return ro
	}
	s.Core = role(v2beta1.RoleCore, wantCores)
	if e.Spec.ReplicantTemplate != nil {
		s.Replicant = role(v2beta1.RoleReplicant, wantRepl)
	}
	return s
}

// down lists the nodes the cluster keeps (inside both the spec and the StatefulSet) that are not
// serving: pod missing, not ready or terminating, node not running, or being evacuated — what the
// chaos checker counts against the budget of one.
func down(s *State, except string) []string {
	var out []string
	for _, ro := range []*Role{&s.Core, &s.Replicant} {
		if ro.Set == nil {
			continue
		}
		for i := int32(0); i < min(ro.Want, ro.current()); i++ {
			name := fmt.Sprintf("%s-%d", ro.Set.Name, i)
			node := NodeName(s.Cluster, name)
			if node == except {
				continue
			}
			pod := ro.pod(name)
			// A replicant running a release no core runs cannot serve until the rollout brings a
			// core of that release: the plan replaces a core meanwhile by design (waitsForItsCore),
			// and the chaos checker never counts such a node, which never ran on that pod.
			if pod != nil && ro.Name == v2beta1.RoleReplicant && waitsForItsCore(s, pod) {
				continue
			}
			_, evacuating := s.Evacuations[node]
			if ready, _ := PodReady(pod); !ready || !s.running(node) || evacuating {
				out = append(out, name)
			}
		}
	}
	return out
}

// The plan never takes a node a cluster keeps out of service while another one is: over 60,000
// random moments, a step that stops a serving node (an evacuation, or replacing a Ready pod) comes
// only when every other kept node serves. Departing nodes (a scale-in) go by the user's wish, as
// the chaos checker counts them.
func TestThePlanNeverTakesASecondNodeDown(t *testing.T) {
	r := rand.New(rand.NewSource(20261207))
	var checked int
	for i := 0; i < 60000; i++ {
		s := randomState(r)
		p := Decide(s)
		var target string
		switch p.Step.Kind {
		case StartEvacuation:
			target = p.Step.Node
		case ReplacePod:
			if ready, _ := PodReady(p.Step.Pod); !ready || stranded(&s, p.Step.Pod) {
				continue // already down: replacing it takes nothing more down
			}
			target = NodeName(s.Cluster, p.Step.Pod.Name)
		default:
			continue
		}
		pod := PodOfNode(s.Cluster, target)
		if ro := roleOf(&s, pod); ro != nil && int32(Ordinal(pod)) >= ro.Want {
			continue // departing
		}
		checked++
		if others := down(&s, target); len(others) > 0 {
			t.Fatalf("state %d: %s of %s while %v are down (%s: %s)\n%s", i, p.Step.Kind, pod, others, p.Reason, p.Message, describe(&s))
		}
	}
	t.Logf("%d disruptive steps checked", checked)
	if checked < 1000 {
		t.Fatalf("only %d disruptive steps were checked: the generator rarely reaches them", checked)
	}
}

func describe(s *State) string {
	var b strings.Builder
	for _, ro := range []*Role{&s.Core, &s.Replicant} {
		if ro.Set == nil {
			continue
		}
		fmt.Fprintf(&b, "%s: want %d, set %d (gen %d observed %d, update %s, template %s)\n", ro.Name, ro.Want, ro.current(), ro.Set.Generation, ro.Set.Status.ObservedGeneration, ro.Set.Status.UpdateRevision, ro.Set.Spec.Template.Spec.Containers[0].Image)
		for i := range ro.Pods {
			p := &ro.Pods[i]
			ready, _ := PodReady(p)
			node := NodeName(s.Cluster, p.Name)
			n, listed := s.node(node)
			_, ev := s.Evacuations[node]
			fmt.Fprintf(&b, "  %s rev %s image %s ready %v terminating %v listed %v %s evacuating %v\n", p.Name, p.Labels[appsv1.ControllerRevisionHashLabelKey], emqxImage(p), ready, p.DeletionTimestamp != nil, listed, n.NodeStatus, ev)
		}
	}
	return b.String()
}

// drainedOrEmpty: stopping this node loses no client: it does not run, has none, was evacuated
// (or its evacuation waited out its bound), or no other node could take its clients. Which nodes
// could take them is worked out here, apart from the plan's own migrationTargets.
func drainedOrEmpty(s *State, node string) bool {
	n, ok := s.node(node)
	if !ok || n.NodeStatus != "running" || n.Connections == 0 || !anyOtherTaker(s, node) {
		return true
	}
	ev, evacuating := s.Evacuations[node]
	if !evacuating {
		return false
	}
	done, _, _ := evacuationProgress(s, node, ev)
	return done
}

// Clients are lost only from a node being evacuated: a node the plan stops — replaced, or removed
// by a scale-in — has been drained first. An outdated pod that is not Ready is replaced at once
// (it may be stuck on a bad revision, or its node hung): its preStop hook evacuates whatever
// clients its node still holds, within the grace period.
func TestThePlanStopsOnlyDrainedNodes(t *testing.T) {
	r := rand.New(rand.NewSource(20261208))
	var checked int
	for i := 0; i < 30000; i++ {
		s := randomState(r)
		p := Decide(s)
		var stopped []string
		if ready, _ := PodReady(p.Step.Pod); p.Step.Kind == ReplacePod && ready {
			stopped = append(stopped, p.Step.Pod.Name)
		}
		for _, ro := range []struct {
			role *Role
			to   int32
		}{{&s.Core, p.CoreReplicas}, {&s.Replicant, p.ReplicantReplicas}} {
			if ro.role.Set == nil {
				continue
			}
			for o := ro.to; o < ro.role.current(); o++ {
				stopped = append(stopped, fmt.Sprintf("%s-%d", ro.role.Set.Name, o))
			}
		}
		for _, pod := range stopped {
			checked++
			if !drainedOrEmpty(&s, NodeName(s.Cluster, pod)) {
				t.Fatalf("state %d: %s stopped with clients, not drained (%s: %s)\n%s", i, pod, p.Reason, p.Message, describe(&s))
			}
		}
	}
	t.Logf("%d stopped nodes checked", checked)
	if checked < 500 {
		t.Fatalf("only %d stopped nodes were checked: the generator rarely reaches them", checked)
	}
}

// anyOtherTaker: a running node other than node, inside what the spec keeps and not evacuating.
func anyOtherTaker(s *State, node string) bool {
	for _, ro := range []*Role{&s.Core, &s.Replicant} {
		for i := int32(0); i < ro.Want; i++ {
			if ro.Set == nil {
				break
			}
			other := NodeName(s.Cluster, fmt.Sprintf("%s-%d", ro.Set.Name, i))
			if _, evacuating := s.Evacuations[other]; other != node && s.running(other) && !evacuating {
				return true
			}
		}
	}
	return false
}

// stranded: a replicant that has not joined and runs a release no core runs (EMQX refuses it).
func stranded(s *State, pod *corev1.Pod) bool {
	ro := roleOf(s, pod.Name)
	return ro != nil && ro.Name == v2beta1.RoleReplicant && strandedReplicant(s, []*corev1.Pod{pod}) != nil
}
