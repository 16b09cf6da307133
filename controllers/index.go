package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// IndexFields adds the cache indexes the reconcilers list by (pipeline.InstanceIndex); before the
// manager starts.
func IndexFields(ctx context.Context, indexer client.FieldIndexer) error {
	for _, obj := range []client.Object{&corev1.Pod{}, &appsv1.StatefulSet{}, &appsv1.ReplicaSet{}, &corev1.PersistentVolumeClaim{}, &policyv1.PodDisruptionBudget{}} {
		if err := indexer.IndexField(ctx, obj, pipeline.InstanceIndex, pipeline.InstanceOf); err != nil {
			return fmt.Errorf("indexing %T by cluster: %w", obj, err)
		}
	}
	return nil
}
