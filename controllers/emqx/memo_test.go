package emqx

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The apply memo skips only what is unchanged on both sides: an object edited by hand after the
// cluster converged (a new resourceVersion) is compared and put back; a deleted cluster is
// forgotten.
func TestApplyMemoRepairsEditsAndForgetsDeletedClusters(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "memo", 1, 0)
	create(t, e)
	r, _ := newReconciler()
	convergeCores(t, r, e)
	headless := &corev1.Service{ObjectMeta: metaOf(ns, e.HeadlessServiceName())}
	waitForCache(t, headless)
	reconcileOnce(t, r, ns, e.Name) // every object found up to date: remembered
	if r.ApplyMemo.Owners() != 1 {
		t.Fatalf("memo holds %d clusters after a converged pass, want 1", r.ApplyMemo.Owners())
	}

	get(t, ns, headless.Name, headless)
	if !headless.Spec.PublishNotReadyAddresses {
		t.Fatal("the headless Service does not publish not-ready addresses to begin with")
	}
	headless.Spec.PublishNotReadyAddresses = false // edited by hand
	if err := directAPI.Update(context.Background(), headless); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, headless)
	reconcileOnce(t, r, ns, e.Name)
	get(t, ns, headless.Name, headless)
	if !headless.Spec.PublishNotReadyAddresses {
		t.Error("the hand edit of the headless Service was not put back")
	}

	if err := directAPI.Delete(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		err := mgrClient.Get(context.Background(), client.ObjectKeyFromObject(e), e.DeepCopy())
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New("the cache still holds the cluster")
	})
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(e)}); err != nil {
		t.Fatal(err)
	}
	if r.ApplyMemo.Owners() != 0 {
		t.Errorf("memo still holds %d clusters after the cluster was deleted", r.ApplyMemo.Owners())
	}
}
