package emqx

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// A cluster whose namespace is being deleted is left to the deletion: the pass that finds it can
// make nothing (the API server refuses every create) ends without an error to retry, without a
// Warning Event and without a status write. envtest runs no namespace controller, so the namespace
// stays Terminating.
func TestNamespaceBeingDeletedEndsThePass(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "going", 3, 0)
	create(t, e)
	r, c := newReconciler()
	convergeCores(t, r, e)
	// An object the apply makes again, as when the deletion removed it before the cluster.
	cm := &corev1.ConfigMap{ObjectMeta: metaOf(ns, e.ConfigMapName())}
	if err := directAPI.Delete(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	if err := directAPI.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if err := mgrClient.Get(context.Background(), client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); err == nil {
			return errors.New("the cache still shows the ConfigMap")
		}
		return nil
	})
	before := getEMQX(t, ns, e.Name).ResourceVersion
	failed := countEvents(t, ns, pipeline.ReasonApplyFailed)
	c.Reset()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(e)})
	if err != nil || res != (ctrl.Result{}) {
		t.Fatalf("Reconcile = %+v, %v; want nothing to retry", res, err)
	}
	if c.Writes.Load() == 0 {
		t.Fatal("the pass tried no create: the test did not reach the refusal")
	}
	if n := countEvents(t, ns, pipeline.ReasonApplyFailed); n != failed {
		t.Errorf("%d ApplyFailed Events for a namespace being deleted", n-failed)
	}
	if after := getEMQX(t, ns, e.Name).ResourceVersion; after != before {
		t.Errorf("the status was written (resourceVersion %s → %s)", before, after)
	}
}
