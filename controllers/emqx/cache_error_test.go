package emqx

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// podListFails is a cache whose pod informer is gone: listing pods fails, everything else works.
type podListFails struct{ client.Client }

func (c podListFails) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*corev1.PodList); ok {
		return errors.New("the pod informer is gone")
	}
	return c.Client.List(ctx, list, opts...)
}

// TestCacheReadErrorWaitsAndSaysReadyIsUnknown: a pass that cannot read the cluster's pods from the
// cache neither panics nor reports every node gone: it writes Ready=Unknown (CacheReadFailed),
// keeps what earlier passes saw, and looks again on the converging interval.
func TestCacheReadErrorWaitsAndSaysReadyIsUnknown(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "blind", 1, 0)
	create(t, e)
	r, _ := newReconciler()
	convergeCores(t, r, e)
	reconcileOnce(t, r, ns, e.Name)
	before := getEMQX(t, ns, e.Name)
	if !meta.IsStatusConditionTrue(before.Status.Conditions, v2beta1.Ready) {
		t.Fatalf("cluster not Ready before the cache fails: %+v", before.Status.Conditions)
	}

	r.Client = podListFails{r.Client}
	res := reconcileOnce(t, r, ns, e.Name)
	if res.RequeueAfter != pipeline.Converging {
		t.Errorf("requeue after %s, want %s", res.RequeueAfter, pipeline.Converging)
	}
	after := getEMQX(t, ns, e.Name)
	ready := meta.FindStatusCondition(after.Status.Conditions, v2beta1.Ready)
	if ready == nil || ready.Status != metav1.ConditionUnknown || ready.Reason != status.ReasonCacheReadFailed ||
		!strings.Contains(ready.Message, "the pod informer is gone") {
		t.Fatalf("Ready = %+v, want Unknown/%s naming the error", ready, status.ReasonCacheReadFailed)
	}
	if after.Status.ReadyNodes != before.Status.ReadyNodes || len(after.Status.CoreNodes) != len(before.Status.CoreNodes) {
		t.Errorf("what earlier passes saw was lost: readyNodes %q -> %q, coreNodes %d -> %d",
			before.Status.ReadyNodes, after.Status.ReadyNodes, len(before.Status.CoreNodes), len(after.Status.CoreNodes))
	}
}
