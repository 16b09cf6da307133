package emqx

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// BenchmarkNoOpReconcile measures a reconcile of a Ready cluster with nothing to change. It fails
// if such a reconcile writes to the API server or reads around the cache.
func BenchmarkNoOpReconcile(b *testing.B) {
	t := b
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "bench", 3, 0)
	create(t, e)
	r, c := newReconciler()
	convergeCores(t, r, e)
	reconcileOnce(t, r, ns, e.Name)
	waitForCache(t, &v2beta1.EMQX{ObjectMeta: metaOf(ns, e.Name)})
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, e.CoreWorkloadName())})
	if !meta.IsStatusConditionTrue(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.Ready) {
		b.Fatal("setup did not reach Ready")
	}
	req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: e.Name}}
	c.Reset()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	if w, u := c.Writes.Load(), c.UncachedReads.Load(); w != 0 || u != 0 {
		b.Fatalf("no-op reconciles made %d writes and %d uncached reads", w, u)
	}
}
