package pipeline

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// PodsOf maps a pod to the cluster of kind gk that it belongs to, for the controller of that kind
// alone. Pods are owned by a workload (a StatefulSet, or a vendor's ReplicaSet being adopted), not by
// the cluster, and every cluster kind labels its pods with the same instance label: without the
// owner check an EMQX pod's every change would also wake the EmqxEnterprise and EmqxBroker
// controllers for a cluster that does not exist. The workload is read from the cache; a pod whose
// workload is not there (yet) is handed over, as a pass for nothing costs one cache read.
func PodsOf(c client.Reader, gk schema.GroupKind) handler.MapFunc {
	return func(ctx context.Context, pod client.Object) []reconcile.Request {
		name, ok := pod.GetLabels()[v2beta1.LabelInstance]
		if !ok {
			return nil
		}
		if owner := workloadOwner(ctx, c, pod); owner != nil && *owner != gk {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: pod.GetNamespace(), Name: name}}}
	}
}

// workloadOwner is the kind that controls the pod's controlling workload (nil: unknown).
func workloadOwner(ctx context.Context, c client.Reader, pod client.Object) *schema.GroupKind {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return nil
	}
	var workload client.Object
	switch ref.Kind {
	case "StatefulSet":
		workload = &appsv1.StatefulSet{}
	case "ReplicaSet":
		workload = &appsv1.ReplicaSet{}
	default:
		return nil
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: pod.GetNamespace(), Name: ref.Name}, workload); err != nil {
		return nil
	}
	owner := metav1.GetControllerOf(workload)
	if owner == nil {
		return nil
	}
	gv, err := schema.ParseGroupVersion(owner.APIVersion)
	if err != nil {
		return nil
	}
	return &schema.GroupKind{Group: gv.Group, Kind: owner.Kind}
}
