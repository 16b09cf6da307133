package emqx4

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// SetupWithManager watches the kind and every kind of object made for it; pods (owned by the
// StatefulSet) are mapped by label, users' licence Secrets by reference.
func (r *Emqx4Reconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(r.Kind).
		For(r.New(), builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		// The fleet's size, for the worker limit (same informer as For).
		Watches(r.New(), r.Workers.Counter()).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(pipeline.PodsOf(mgr.GetClient(), v1beta2.GroupVersion.WithKind(r.Kind).GroupKind()))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.licenseSecretToClusters)).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Complete(r)
}

// licenseSecretToClusters maps a user's Secret to the clusters whose licenseSecretName names it.
func (r *Emqx4Reconciler) licenseSecretToClusters(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetLabels()[v2beta1.LabelManagedBy] == v2beta1.ManagedByValue || r.Kind != "EmqxEnterprise" {
		return nil
	}
	list := &v1beta2.EmqxEnterpriseList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "mapping a Secret to the clusters that reference it", "secret", o.GetName())
		return nil
	}
	var out []reconcile.Request
	for _, e := range list.Items {
		if e.Spec.EmqxTemplate.LicenseSecretName == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&e)})
		}
	}
	return out
}

// NewEmqx4Reconcilers returns the reconcilers of EmqxEnterprise and EmqxBroker, sharing base's
// clients and settings.
func NewEmqx4Reconcilers(base Emqx4Reconciler, scheme *runtime.Scheme) []*Emqx4Reconciler {
	ee, broker := base, base
	ee.Scheme, broker.Scheme = scheme, scheme
	ee.Kind, ee.New = "EmqxEnterprise", func() v1beta2.Cluster { return &v1beta2.EmqxEnterprise{} }
	broker.Kind, broker.New = "EmqxBroker", func() v1beta2.Cluster { return &v1beta2.EmqxBroker{} }
	return []*Emqx4Reconciler{&ee, &broker}
}
