package emqx

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/desired"
)

// SetupWithManager watches the EMQX resources and every kind of object the operator makes. The
// manager's cache holds only objects labelled as the operator's (see CacheOptions), so watching
// Secrets or Pods does not cache every Secret or Pod in the cluster.
func (r *EMQXReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("emqx").
		For(&v2beta1.EMQX{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		// The fleet's size, for the worker limit (same informer as For).
		Watches(&v2beta1.EMQX{}, r.Workers.Counter()).
		// The restore of spec.restoreFrom: its end turns the cluster Ready.
		Owns(&v2beta1.EMQXRestore{}).
		// Pods are owned by the StatefulSets, not by the EMQX resource: map them to their cluster,
		// for this kind only (pipeline.PodsOf).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(pipeline.PodsOf(mgr.GetClient(), v2beta1.GroupVersion.WithKind("EMQX").GroupKind()))).
		// Users' Secrets a cluster references (labelled watched; the cache holds no other Secret).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToClusters)).
		// The cluster's plugins: a plugin reaching a new node turns the cluster Ready.
		Watches(&v2beta1.EMQXPlugin{}, handler.EnqueueRequestsFromMapFunc(pluginToCluster)).
		// The Prometheus Operator's PodMonitor CRD arriving (or going) wakes the clusters that ask
		// for a PodMonitor: no polling while it is missing. Metadata only, and only that CRD.
		WatchesMetadata(desired.PodMonitorCRD(), handler.EnqueueRequestsFromMapFunc(r.monitoredClusters),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == desired.PodMonitorCRDName }))).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Complete(r)
}

// monitoredClusters are the clusters whose spec asks for a PodMonitor.
func (r *EMQXReconciler) monitoredClusters(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v2beta1.EMQXList{}
	if err := r.Client.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "listing the clusters that ask for a PodMonitor")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].WantsPodMonitor() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// secretToClusters maps a user's Secret to the clusters of its namespace that reference it.
func (r *EMQXReconciler) secretToClusters(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetLabels()[v2beta1.LabelManagedBy] == v2beta1.ManagedByValue {
		return nil // the operator's own Secrets are handled by Owns
	}
	list := &v2beta1.EMQXList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		// The cache's List fails only when the informer is gone; the periodic resync still reaches the clusters.
		log.FromContext(ctx).Error(err, "mapping a Secret to the clusters that reference it", "secret", o.GetName())
		return nil
	}
	var out []reconcile.Request
	for _, e := range list.Items {
		if references(&e, o.GetName()) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&e)})
		}
	}
	return out
}

func references(e *v2beta1.EMQX, secret string) bool {
	if e.Spec.License != nil && e.Spec.License.SecretRef.SecretName == secret {
		return true
	}
	if e.Spec.TLS != nil && e.TLSSourceSecretName() == secret {
		return true
	}
	for _, k := range e.Spec.BootstrapAPIKeys {
		if k.SecretRef != nil && (k.SecretRef.Key.SecretName == secret || k.SecretRef.Secret.SecretName == secret) {
			return true
		}
	}
	return false
}

// pluginToCluster maps an EMQXPlugin to its cluster.
func pluginToCluster(_ context.Context, o client.Object) []reconcile.Request {
	pl, ok := o.(*v2beta1.EMQXPlugin)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: pl.Namespace, Name: pl.Spec.ClusterName}}}
}

// pluginsOf lists the cluster's EMQXPlugins from the cache.
func (r *EMQXReconciler) pluginsOf(ctx context.Context, e *v2beta1.EMQX) ([]v2beta1.EMQXPlugin, error) {
	var list v2beta1.EMQXPluginList
	if err := r.Client.List(ctx, &list, client.InNamespace(e.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the cluster's plugins: %w", err)
	}
	var out []v2beta1.EMQXPlugin
	for _, pl := range list.Items {
		if pl.Spec.ClusterName == e.Name {
			out = append(out, pl)
		}
	}
	return out, nil
}
