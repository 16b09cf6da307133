package lifecycle

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// vendorReplicants adds n pods of a vendor ReplicaSet, each a running node emqx@<pod IP>.
func (f *fixture) vendorReplicants(n int) {
	set := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "c-replicant-5d4f", UID: "rs-uid"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(n))}, Status: appsv1.ReplicaSetStatus{Replicas: int32(n)}}
	f.state.ForeignSets = append(f.state.ForeignSets, set)
	for i := 0; i < n; i++ {
		p := f.pod("c-replicant-5d4f", int32(i), "")
		p.Name = "c-replicant-5d4f-x" + string(rune('a'+i))
		p.Status.PodIP = "10.9.0." + string(rune('1'+i))
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: set.Name, UID: set.UID, Controller: ptr.To(true)}}
		f.state.Foreign = append(f.state.Foreign, p)
		f.state.Nodes = append(f.state.Nodes, emqxapi.Node{Node: "emqx@" + p.Status.PodIP, NodeStatus: "running",
			Role: "replicant", Edition: "Enterprise", Connections: 50})
	}
}

// TestVendorReplicantsAreDrainedOneByOneAfterOurs: the vendor's replicants go only once this
// operator's replicants all run, one at a time, each evacuated first; then the empty ReplicaSet
// is deleted; nothing happens to the cores meanwhile.
func TestVendorReplicantsAreDrainedOneByOneAfterOurs(t *testing.T) {
	f := newFixture(3, 2)
	f.vendorReplicants(2)
	f.state.Replicant.Pods[1].Status.Conditions[0].Status = corev1.ConditionFalse
	if p := Decide(f.state); p.Step.Kind != None || !p.Busy {
		t.Fatalf("with one of our replicants not ready: %+v, want a wait", p)
	}
	f = newFixture(3, 2)
	f.vendorReplicants(2)
	p := Decide(f.state)
	if p.Step.Kind != StartEvacuation || p.Step.Node != "emqx@10.9.0.1" || len(p.Step.Evacuation.MigrateTo) != 5 {
		t.Fatalf("plan %+v, want the first vendor node evacuated to the 5 nodes of ours", p)
	}
	f.state.Evacuations["emqx@10.9.0.1"] = evac("emqx@10.9.0.1", "waiting_takeover", 50, 0)
	if p = Decide(f.state); p.Step.Kind != RetireForeignPod || p.Step.Pod.Name != "c-replicant-5d4f-xa" || p.Step.Set == nil || !p.Step.Disruptive {
		t.Fatalf("plan %+v, want the evacuated pod retired", p)
	}
	f.state.Foreign[0].DeletionTimestamp = &metav1.Time{Time: now}
	if p = Decide(f.state); p.Step.Kind != None || p.Reason != "AdoptingWorkloads" {
		t.Fatalf("plan %+v while the retired pod stops, want a wait", p)
	}
	f.state.Foreign = nil
	if p = Decide(f.state); p.Step.Kind != None {
		t.Fatalf("plan %+v while the ReplicaSet still reports pods", p)
	}
	f.state.ForeignSets[0].Status.Replicas = 0
	if p = Decide(f.state); p.Step.Kind != DeleteForeignSet || p.Step.Set.Name != "c-replicant-5d4f" {
		t.Fatalf("plan %+v, want the empty ReplicaSet deleted", p)
	}
}

// A Ready vendor replicant that no listed node matches may serve clients outside the cluster the
// answering node sees: it is not retired unevacuated, but waited for; only StuckAfter after it was
// first seen so is it retired, and one whose pod is not Ready is retired at once.
func TestAnUnlistedReadyVendorReplicantIsWaitedFor(t *testing.T) {
	f := newFixture(3, 2)
	f.vendorReplicants(1)
	f.state.Nodes = f.state.Nodes[:len(f.state.Nodes)-1] // its node emqx@10.9.0.1 is not listed
	f.state.ForeignUnlistedSince = map[string]time.Time{"c-replicant-5d4f-xa": now.Add(-10 * time.Second)}
	if p := Decide(f.state); p.Step.Kind != None || p.Reason != "AdoptingWorkloads" || !strings.Contains(p.Message, "waiting up to 2m0s for it to be listed") {
		t.Fatalf("plan %+v, want a wait for the unlisted vendor replicant", p)
	}
	f.state.ForeignUnlistedSince["c-replicant-5d4f-xa"] = now.Add(-StuckAfter)
	if p := Decide(f.state); p.Step.Kind != RetireForeignPod {
		t.Fatalf("unlisted for StuckAfter: plan %+v, want it retired", p)
	}
	f.state.ForeignUnlistedSince["c-replicant-5d4f-xa"] = now.Add(-10 * time.Second)
	f.state.Foreign[0].Status.Conditions[0].Status = corev1.ConditionFalse
	if p := Decide(f.state); p.Step.Kind != RetireForeignPod {
		t.Fatalf("pod not Ready: plan %+v, want it retired", p)
	}
}
