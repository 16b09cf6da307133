// Package controllers is what the manager needs from the reconcilers as a whole: the cache scoped to
// the operator's own objects. The reconcilers live in a package per concern (emqx, emqx4, backup);
// what they share is in pipeline and refs.
package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/desired"
)

// CacheOptions scope the manager's cache to the objects the operator makes, so its memory grows
// with the number of EMQX clusters, not with the size of the Kubernetes cluster. namespaces
// limits it further (WATCH_NAMESPACE); empty means all namespaces.
func CacheOptions(namespaces []string) cache.Options {
	ours := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{v2beta1.LabelManagedBy: v2beta1.ManagedByValue})}
	// Secrets: the operator's own and the users' Secrets a cluster references, both labelled
	// watched — never every Secret of the cluster.
	watched := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{v2beta1.LabelWatched: "true"})}
	opts := cache.Options{
		// Nothing reads managedFields from the cache (the applier compares fields and its own
		// hash annotation); they are often the largest part of a cached object's metadata, kept for every
		// object of every cluster.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.StatefulSet{}: ours,
			// The vendor's replicant ReplicaSets carry the same managed-by label (adoption).
			&appsv1.ReplicaSet{}:            ours,
			&corev1.Pod{}:                   ours,
			&batchv1.Job{}:                  ours,
			&rbacv1.Role{}:                  ours,
			&rbacv1.RoleBinding{}:           ours,
			&corev1.Service{}:               ours,
			&corev1.ConfigMap{}:             ours,
			&corev1.Secret{}:                watched,
			&corev1.ServiceAccount{}:        ours,
			&policyv1.PodDisruptionBudget{}: ours,
			// Core PVCs carry the operator's labels through the volumeClaimTemplates.
			&corev1.PersistentVolumeClaim{}: ours,
			// No entry for PodMonitors: an entry needs the kind's REST mapping when the manager starts,
			// and the Prometheus Operator's CRDs may arrive later. Their informer starts on first use.
			// Of all CRDs, only the PodMonitor's metadata (its arrival wakes the clusters that want one).
			desired.PodMonitorCRD(): {Field: fields.OneTermEqualSelector("metadata.name", desired.PodMonitorCRDName)},
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// ClientOptions makes the manager's client read unstructured objects from the cache too: the
// operator applies cert-manager Certificates (for which it has no Go types) as unstructured, and
// its no-op check must not cost an uncached read every pass. The informer starts on first use,
// so clusters without cert-manager never watch Certificates.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{Unstructured: true}}
}
