package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// CacheOptions scope the manager's cache to the objects the operator makes, so its memory grows
// with the number of EMQX clusters, not with the size of the Kubernetes cluster. namespaces
// limits it further (WATCH_NAMESPACE); empty means all namespaces.
func CacheOptions(namespaces []string) cache.Options {
	ours := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{v2beta1.LabelManagedBy: v2beta1.ManagedByValue})}
	opts := cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.StatefulSet{}:           ours,
			&corev1.Pod{}:                   ours,
			&corev1.Service{}:               ours,
			&corev1.ConfigMap{}:             ours,
			&corev1.Secret{}:                ours,
			&corev1.ServiceAccount{}:        ours,
			&policyv1.PodDisruptionBudget{}: ours,
			// Core PVCs carry the operator's labels through the volumeClaimTemplates.
			&corev1.PersistentVolumeClaim{}: ours,
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
