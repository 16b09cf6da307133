package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

func fastRollouts(e *v2beta1.EMQX) *v2beta1.EMQX {
	e.Spec.UpdateStrategy.InitialDelaySeconds = ptr.To[int32](1)
	return e
}

// TestScaleOutJoinsEveryNodeAndInvitesStragglers: 3 → 5 cores and 2 → 6 replicants; a new core
// that never joins by itself is invited, and Ready waits until every node has joined.
func TestScaleOutJoinsEveryNodeAndInvitesStragglers(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "out", 3, 2)))
	env.WaitForCondition(t, ns, "out", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	straggler := nodeOf(ns, "out", "out-core-4")
	if err := env.Sim.SetFaults(straggler, simulator.Faults{NeverJoins: true}); err != nil {
		t.Fatal(err)
	}
	update(t, ns, "out", func(e *v2beta1.EMQX) {
		e.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](5)
		e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To[int32](6)
	})
	got := env.WaitForCondition(t, ns, "out", v2beta1.Ready, metav1.ConditionTrue, 120*time.Second)
	if len(got.Status.CoreNodes) != 5 || len(got.Status.ReplicantNodes) != 6 {
		t.Fatalf("status: %d cores, %d replicants", len(got.Status.CoreNodes), len(got.Status.ReplicantNodes))
	}
	clusters := map[int]bool{}
	for name, n := range simNodes(t, ns) {
		if n.state != "running" {
			t.Errorf("%s is %s", name, n.state)
		}
		clusters[n.cluster] = true
	}
	if len(clusters) != 1 {
		t.Errorf("nodes are in %d EMQX clusters", len(clusters))
	}
	invites := eventsWithReason(t, ns, "Invite")
	if len(invites) == 0 || !strings.Contains(invites[0].Note, straggler) {
		t.Errorf("no Invite event for %s: %v", straggler, invites)
	}
}

// TestScaleInEvacuatesThenForceLeaves: 5 → 3 cores with clients connected: each departing node is
// evacuated before its pod goes, with the spec's wait for load balancers, force-left after, no
// stopped node remains, PVCs are kept.
func TestScaleInEvacuatesThenForceLeaves(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "in", 5, 0))
	e.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck = ptr.To[int32](3)
	create(t, e)
	env.WaitForCondition(t, ns, "in", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	total := connect(t, ns, 200)
	pvcs := pvcUIDs(t, ns)

	update(t, ns, "in", func(e *v2beta1.EMQX) { e.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](3) })
	got := env.WaitForCondition(t, ns, "in", v2beta1.Ready, metav1.ConditionTrue, 120*time.Second)

	for _, n := range got.Status.CoreNodes {
		if n.NodeStatus != "running" {
			t.Errorf("node %s is %s after the scale-in", n.Node, n.NodeStatus)
		}
	}
	if len(got.Status.CoreNodes) != 3 {
		t.Errorf("%d core nodes in status, want 3 (departed nodes force-left)", len(got.Status.CoreNodes))
	}
	kept := connectedClients(t, ns)
	if kept != total {
		t.Errorf("%d of %d clients still connected after the scale-in: evacuation lost clients", kept, total)
	}
	// Order per departing node: evacuation started, then the pod went, then force_leave.
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"in-core-4", "in-core-3"} {
		node := nodeOf(ns, "in", pod)
		var evac, leave int = -1, -1
		for i, c := range calls {
			if strings.Contains(c.Path, node+"/evacuation/start") && c.Status == 200 {
				if evac < 0 {
					evac = i
				}
				if !strings.Contains(c.Body, `"wait_health_check":3,`) && !strings.Contains(c.Body, `"wait_health_check":3}`) {
					t.Errorf("%s: evacuation started with %s, want the spec's wait_health_check 3", pod, c.Body)
				}
			}
			if strings.Contains(c.Path, node+"/force_leave") && c.Status == 204 {
				leave = i
			}
		}
		if evac < 0 || leave < 0 || evac > leave {
			t.Errorf("%s: evacuation call #%d, force_leave call #%d: want evacuation first, then force_leave", pod, evac, leave)
		}
	}
	if after := pvcUIDs(t, ns); fmt.Sprint(after) != fmt.Sprint(pvcs) {
		t.Errorf("PVCs changed: %v -> %v (retain by default)", pvcs, after)
	}
}

// TestRollingUpdateInPlace: a version upgrade of 3 cores + 3 replicants happens on the same
// StatefulSets and PVCs, one node at a time, in the order the release-match rule needs; a bad
// image stops the rollout with one node down and says why; fixing the spec completes it.
func TestRollingUpdateInPlace(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "roll", 3, 3)))
	env.WaitForCondition(t, ns, "roll", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	connect(t, ns, 100)
	coreUID, replUID := statefulSet(t, ns, "roll-core").UID, statefulSet(t, ns, "roll-replicant").UID
	pvcs := pvcUIDs(t, ns)

	sampler := sampleUnavailable(t, ns, 6)
	update(t, ns, "roll", func(e *v2beta1.EMQX) { e.Spec.Image = "emqx/emqx-enterprise:5.8.7" })
	got := env.WaitForCondition(t, ns, "roll", v2beta1.Ready, metav1.ConditionTrue, 180*time.Second)
	worst, when, samples := sampler.finish()
	t.Logf("%d availability samples, at most %d node(s) unavailable", samples, worst)
	if worst > 1 {
		t.Errorf("%d nodes unavailable at once (%s), want at most 1", worst, when)
	}
	for _, n := range append(got.Status.CoreNodes, got.Status.ReplicantNodes...) {
		if n.Version != "5.8.7" || n.NodeStatus != "running" {
			t.Errorf("node %s: %s %s", n.Node, n.Version, n.NodeStatus)
		}
	}
	if statefulSet(t, ns, "roll-core").UID != coreUID || statefulSet(t, ns, "roll-replicant").UID != replUID {
		t.Error("a StatefulSet was replaced")
	}
	if after := pvcUIDs(t, ns); fmt.Sprint(after) != fmt.Sprint(pvcs) {
		t.Errorf("PVCs changed: %v -> %v", pvcs, after)
	}
	replaced := eventsWithReason(t, ns, "ReplacePod")
	if len(replaced) != 6 {
		t.Errorf("%d ReplacePod events, want 6", len(replaced))
	}
	if len(replaced) > 0 && !strings.Contains(replaced[0].Note, "roll-core-") {
		t.Errorf("first replaced pod: %s, want a core (replicants join only cores of their release)", replaced[0].Note)
	}
	if n := len(eventsWithReason(t, ns, "StartEvacuation")); n < 6 {
		t.Errorf("%d evacuations for 6 replaced nodes with clients", n)
	}

	// A bad image: the first replaced pod never comes up; the rollout stops there and says why.
	sampler = sampleUnavailable(t, ns, 6)
	update(t, ns, "roll", func(e *v2beta1.EMQX) { e.Spec.Image = "emqx/emqx-enterprise:broken" })
	harness.Eventually(t, 60*time.Second, "rollout blocked", func() error {
		e := env.GetEMQX(t, ns, "roll")
		c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.CoreNodesProgressing)
		if c == nil || c.Reason != "RolloutBlocked" || !strings.Contains(c.Message, "ImagePullBackOff") {
			return fmt.Errorf("CoreNodesProgressing = %+v", c)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // it stays blocked
	if worst, when, _ := sampler.finish(); worst != 1 {
		t.Errorf("bad image: %d nodes unavailable (%s), want exactly 1", worst, when)
	}
	update(t, ns, "roll", func(e *v2beta1.EMQX) { e.Spec.Image = "emqx/emqx-enterprise:5.8.8" })
	got = env.WaitForCondition(t, ns, "roll", v2beta1.Ready, metav1.ConditionTrue, 180*time.Second)
	for _, n := range append(got.Status.CoreNodes, got.Status.ReplicantNodes...) {
		if n.Version != "5.8.8" {
			t.Errorf("after the fix node %s runs %s", n.Node, n.Version)
		}
	}
}

// TestPauseHoldsChanges: with the pause annotation a spec change is not applied; removing it resumes.
func TestPauseHoldsChanges(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "pause", 1, 1)))
	env.WaitForCondition(t, ns, "pause", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	update(t, ns, "pause", func(e *v2beta1.EMQX) {
		if e.Annotations == nil {
			e.Annotations = map[string]string{}
		}
		e.Annotations[v2beta1.PauseAnnotation] = "true"
	})
	env.WaitForCondition(t, ns, "pause", v2beta1.Paused, metav1.ConditionTrue, 30*time.Second)
	update(t, ns, "pause", func(e *v2beta1.EMQX) { e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To[int32](3) })
	time.Sleep(5 * time.Second)
	if r := ptr.Deref(statefulSet(t, ns, "pause-replicant").Spec.Replicas, 0); r != 1 {
		t.Errorf("replicant StatefulSet scaled to %d while paused", r)
	}
	if e := env.GetEMQX(t, ns, "pause"); e.Status.Phase != "Paused" {
		t.Errorf("phase = %s", e.Status.Phase)
	}
	update(t, ns, "pause", func(e *v2beta1.EMQX) { delete(e.Annotations, v2beta1.PauseAnnotation) })
	got := env.WaitForCondition(t, ns, "pause", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	if len(got.Status.ReplicantNodes) != 3 {
		t.Errorf("%d replicants after resuming, want 3", len(got.Status.ReplicantNodes))
	}
}

// TestThrottleOneRolloutAtATime: with --max-concurrent-rollouts=1 (the suite's setting), two
// clusters updated together roll one after the other.
func TestThrottleOneRolloutAtATime(t *testing.T) {
	ns := env.NewNamespace(t)
	for _, name := range []string{"fleet-a", "fleet-b"} {
		create(t, fastRollouts(coreReplicantCluster(ns, name, 2, 1)))
	}
	for _, name := range []string{"fleet-a", "fleet-b"} {
		env.WaitForCondition(t, ns, name, v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	}
	for _, name := range []string{"fleet-a", "fleet-b"} {
		update(t, ns, name, func(e *v2beta1.EMQX) { e.Spec.Image = "emqx/emqx-enterprise:5.8.7" })
	}
	for _, name := range []string{"fleet-a", "fleet-b"} {
		env.WaitForCondition(t, ns, name, v2beta1.Ready, metav1.ConditionTrue, 180*time.Second)
	}
	window := map[string][2]time.Time{}
	for _, ev := range eventsWithReason(t, ns, "ReplacePod") {
		name := ev.Regarding.Name
		w := window[name]
		at := eventTime(ev)
		if w[0].IsZero() || at.Before(w[0]) {
			w[0] = at
		}
		if at.After(w[1]) {
			w[1] = at
		}
		window[name] = w
	}
	a, b := window["fleet-a"], window["fleet-b"]
	if a[0].IsZero() || b[0].IsZero() {
		t.Fatalf("rollout windows %v", window)
	}
	if a[0].Before(b[1]) && b[0].Before(a[1]) {
		t.Errorf("rollouts overlapped: fleet-a %v–%v, fleet-b %v–%v", a[0], a[1], b[0], b[1])
	}
}

// TestOperatorKilledMidRolloutResumes: killing the operator while it replaces pods loses nothing.
func TestOperatorKilledMidRolloutResumes(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "kill", 3, 2)))
	env.WaitForCondition(t, ns, "kill", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	connect(t, ns, 50)
	update(t, ns, "kill", func(e *v2beta1.EMQX) { e.Spec.Image = "emqx/emqx-enterprise:5.8.7" })
	for i := 0; i < 3; i++ {
		harness.Eventually(t, 60*time.Second, "a pod replaced", func() error {
			if n := len(eventsWithReason(t, ns, "ReplacePod")); n <= i {
				return fmt.Errorf("%d replaced", n)
			}
			return nil
		})
		env.KillOperator()
		time.Sleep(500 * time.Millisecond)
		if err := env.StartOperator(); err != nil {
			t.Fatal(err)
		}
	}
	got := env.WaitForCondition(t, ns, "kill", v2beta1.Ready, metav1.ConditionTrue, 180*time.Second)
	for _, n := range append(got.Status.CoreNodes, got.Status.ReplicantNodes...) {
		if n.Version != "5.8.7" || n.NodeStatus != "running" {
			t.Errorf("node %s: %s %s", n.Node, n.Version, n.NodeStatus)
		}
	}
	if n := len(eventsWithReason(t, ns, "ReplacePod")); n != 5 {
		t.Errorf("%d pods replaced for 5 nodes", n)
	}
}

// TestStatusSurvivesTheNodeTheOperatorAsks: the core the operator asks first stops answering (a
// hung node, still Ready to Kubernetes); status keeps updating from the other cores within 30 s.
func TestStatusSurvivesTheNodeTheOperatorAsks(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "blind", 3, 0)))
	env.WaitForCondition(t, ns, "blind", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	first := nodeOf(ns, "blind", "blind-core-0")
	if err := env.Sim.SetFaults(first, simulator.Faults{Unresponsive: true}); err != nil {
		t.Fatal(err)
	}
	other := nodeOf(ns, "blind", "blind-core-2")
	if err := env.Sim.SetConnections(other, 4321); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	harness.Eventually(t, 30*time.Second, "status shows the new connection count", func() error {
		for _, n := range env.GetEMQX(t, ns, "blind").Status.CoreNodes {
			if n.Node == other && n.Connections == 4321 {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	t.Logf("status updated %s after the node stopped answering", time.Since(start).Round(time.Second))
	harness.Eventually(t, 30*time.Second, "status names the node that is down", func() error {
		c := meta.FindStatusCondition(env.GetEMQX(t, ns, "blind").Status.Conditions, v2beta1.Ready)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, first) {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
}

// TestVolumeGrowsWithoutWedging: a larger volume size cannot be set on a StatefulSet in place;
// the operator replaces the StatefulSet object without touching its pods and expands the PVCs.
func TestVolumeGrowsWithoutWedging(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "grow", 2, 0)))
	env.WaitForCondition(t, ns, "grow", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	setUID, podsBefore, pvcsBefore := statefulSet(t, ns, "grow-core").UID, podUIDs(t, ns), pvcUIDs(t, ns)

	update(t, ns, "grow", func(e *v2beta1.EMQX) {
		e.Spec.CoreTemplate.Spec.VolumeClaimTemplates.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	})
	harness.Eventually(t, 60*time.Second, "PVCs expanded and the StatefulSet replaced", func() error {
		// Between the orphaning delete and the re-create there is briefly no StatefulSet.
		ctx, cancel := harness.Ctx()
		defer cancel()
		s := &appsv1.StatefulSet{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "grow-core"}, s); err != nil {
			return err
		}
		if s.UID == setUID {
			return fmt.Errorf("StatefulSet not replaced")
		}
		if got := s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "2Gi" {
			return fmt.Errorf("template size %s", got.String())
		}
		list := &corev1.PersistentVolumeClaimList{}
		if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, pvc := range list.Items {
			if c := pvc.Status.Capacity[corev1.ResourceStorage]; c.String() != "2Gi" {
				return fmt.Errorf("PVC %s capacity %s", pvc.Name, c.String())
			}
		}
		return nil
	})
	env.WaitForCondition(t, ns, "grow", v2beta1.Ready, metav1.ConditionTrue, 60*time.Second)
	if now := podUIDs(t, ns); now != podsBefore {
		t.Errorf("pods restarted:\n%s\n%s", podsBefore, now)
	}
	if now := pvcUIDs(t, ns); fmt.Sprint(now) != fmt.Sprint(pvcsBefore) {
		t.Errorf("PVCs replaced: %v -> %v", pvcsBefore, now)
	}
	if n := len(eventsWithReason(t, ns, "Replaced")); n != 1 {
		t.Errorf("%d Replaced events", n)
	}
}

// TestNodeDrainEvacuatesFirstAndPDBHoldsTheSecond: a core evicted through the Eviction API (what
// `kubectl drain` does) evacuates its clients before it stops (preStop), the PodDisruptionBudget
// refuses a second eviction meanwhile, and the restarted core stops being evacuated.
func TestNodeDrainEvacuatesFirstAndPDBHoldsTheSecond(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "drain", 3, 0)))
	env.WaitForCondition(t, ns, "drain", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	total := connect(t, ns, 300)
	harness.Eventually(t, 30*time.Second, "PDB allows one disruption", func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		pdb := &policyv1.PodDisruptionBudget{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "drain-core"}, pdb); err != nil {
			return err
		}
		if pdb.Status.DisruptionsAllowed != 1 {
			return fmt.Errorf("disruptionsAllowed %d", pdb.Status.DisruptionsAllowed)
		}
		return nil
	})
	evict := func(pod string) error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		p := env.Pod(t, ns, pod)
		return env.Client.SubResource("eviction").Create(ctx, p, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}})
	}
	oldUID := env.Pod(t, ns, "drain-core-1").UID
	if err := evict("drain-core-1"); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	if err := evict("drain-core-2"); err == nil || !apierrors.IsTooManyRequests(err) {
		t.Errorf("second eviction: %v, want 429 from the PodDisruptionBudget", err)
	}
	harness.Eventually(t, 60*time.Second, "evicted core replaced and the cluster Ready", func() error {
		if p := env.FindPod(t, ns, "drain-core-1"); p == nil || p.UID == oldUID {
			return fmt.Errorf("not replaced yet")
		}
		e := env.GetEMQX(t, ns, "drain")
		if !meta.IsStatusConditionTrue(e.Status.Conditions, v2beta1.Ready) {
			return fmt.Errorf("not Ready")
		}
		return nil
	})
	kept := connectedClients(t, ns)
	if kept != total {
		t.Errorf("%d of %d clients kept: the evicted node was not evacuated first", kept, total)
	}
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	evacuated := false
	for _, c := range calls {
		if c.Method == "EXEC" && c.Path == "preStop" && c.Node == nodeOf(ns, "drain", "drain-core-1") {
			evacuated = true
		}
	}
	if !evacuated {
		t.Error("the evicted pod's preStop evacuation did not run")
	}
	// The evacuation persisted on the core's volume; the operator ends it once the node is back.
	harness.Eventually(t, 30*time.Second, "restarted core accepts clients again", func() error {
		nodes, err := env.Sim.Nodes()
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Name == nodeOf(ns, "drain", "drain-core-1") && n.Evacuation != "" {
				return fmt.Errorf("still evacuating (%s)", n.Evacuation)
			}
		}
		return nil
	})
}

// TestOperatorKilledMidScaleInResumes: killed after an evacuation starts and after a force_leave,
// the operator resumes from what the cluster shows; the staying pods are untouched, no client is
// lost, no stopped node lingers.
func TestOperatorKilledMidScaleInResumes(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "shrink", 5, 0)))
	env.WaitForCondition(t, ns, "shrink", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	total := connect(t, ns, 100)
	staying := map[string]string{}
	for _, p := range pods(t, ns) {
		if p.Name == "shrink-core-0" || p.Name == "shrink-core-1" {
			staying[p.Name] = string(p.UID)
		}
	}
	update(t, ns, "shrink", func(e *v2beta1.EMQX) { e.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](2) })
	for _, reason := range []string{"StartEvacuation", "ForceLeave"} {
		harness.Eventually(t, 60*time.Second, reason, func() error {
			if len(eventsWithReason(t, ns, reason)) == 0 {
				return fmt.Errorf("no %s yet", reason)
			}
			return nil
		})
		env.KillOperator()
		if err := env.StartOperator(); err != nil {
			t.Fatal(err)
		}
	}
	got := env.WaitForCondition(t, ns, "shrink", v2beta1.Ready, metav1.ConditionTrue, 120*time.Second)
	if len(got.Status.CoreNodes) != 2 {
		t.Errorf("%d core nodes after scaling to 2: %+v", len(got.Status.CoreNodes), got.Status.CoreNodes)
	}
	for _, p := range pods(t, ns) {
		if uid, ok := staying[p.Name]; ok && uid != string(p.UID) {
			t.Errorf("staying pod %s was replaced", p.Name)
		}
	}
	kept := connectedClients(t, ns)
	if kept != total {
		t.Errorf("%d of %d clients kept", kept, total)
	}
	if n := len(pvcUIDs(t, ns)); n != 5 {
		t.Errorf("%d PVCs, want all 5 retained", n)
	}
}
