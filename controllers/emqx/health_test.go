package emqx

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
)

// TestStableClusterReadsEMQXOncePerHealthInterval: a Ready cluster that nothing changes costs EMQX
// one read per health interval however often it is reconciled (before: three per pass, every
// 15 s), and a pod event brings a full read at once.
func TestStableClusterReadsEMQXOncePerHealthInterval(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "quiet", 2, 0)
	create(t, e)
	r, _ := newReconciler()
	now := time.Now()
	r.Clock = func() time.Time { return now }
	r.Health = healthpoll.New(30 * time.Second).WithoutJitter()
	r.ReadyResync = 15 * time.Second // shorter than the health interval: passes between reads would find nothing
	reconcileOnce(t, r, ns, e.Name)
	operatorKey(t, ns, e.Name)
	setStatefulSetStatus(t, ns, e.CoreWorkloadName(), 2, 2, "rev1")
	cores := createPods(t, e, v2beta1.RoleCore, 2, "rev1")
	waitForPodsInCache(t, e, 2)
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, e.CoreWorkloadName())})
	fakeEMQX.SetNodes(runningNodes(e, v2beta1.RoleCore, cores...)...)
	reconcileOnce(t, r, ns, e.Name)
	for i := 0; i < 5 && !meta.IsStatusConditionTrue(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.Ready); i++ {
		reconcileOnce(t, r, ns, e.Name)
	}
	if !meta.IsStatusConditionTrue(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.Ready) {
		t.Fatalf("not Ready: %+v", getEMQX(t, ns, e.Name).Status.Conditions)
	}
	// A pass over the Ready cluster: it is looked at again when its next EMQX read is due.
	if res := reconcileOnce(t, r, ns, e.Name); res.RequeueAfter != 30*time.Second {
		t.Errorf("a Ready cluster is looked at again after %v, want 30s (its next EMQX read, not the 15s resync)", res.RequeueAfter)
	}

	// Twenty resyncs over 60 s: the node list is read at 30 s and at 60 s, nothing else.
	before := fakeEMQX.Requests()
	for i := 0; i < 20; i++ {
		now = now.Add(3 * time.Second)
		reconcileOnce(t, r, ns, e.Name)
	}
	if got := fakeEMQX.Requests() - before; got != 2 {
		t.Errorf("%d EMQX requests in 60 s of a stable cluster, want 2 (one per 30 s)", got)
	}
	if st := getEMQX(t, ns, e.Name).Status; !meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) || st.ReadyNodes != "2/2" {
		t.Errorf("status of the stable cluster changed: ready nodes %s, %+v", st.ReadyNodes, st.Conditions)
	}

	// A pod event (here a label on a pod) ends the quiet time: the next pass reads EMQX in full.
	pod := &corev1.Pod{}
	get(t, ns, cores[0], pod)
	pod.Labels["touched"] = "yes"
	if err := directAPI.Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, pod)
	before = fakeEMQX.Requests()
	reconcileOnce(t, r, ns, e.Name)
	if got := fakeEMQX.Requests() - before; got < 3 {
		t.Errorf("%d EMQX requests after a pod changed, want a full read (nodes, evacuations, licence)", got)
	}
}
