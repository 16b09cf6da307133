package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list

// reasonForeignWorkloads: the cluster's nodes run in workloads another operator made.
const reasonForeignWorkloads = "ForeignWorkloads"

// foreignWorkloads stops a cluster whose nodes run in workloads this operator did not make: the
// vendor's emqx-operator names them <name>-core-<hash> (a StatefulSet) and <name>-replicant-<hash>
// (ReplicaSets), with the same instance and managed-by labels as ours. Applying our objects next
// to them would take over their Services, and our lifecycle layer would count their pods as
// nodes and could delete them. Nothing is changed while they exist; the problem says what to do.
//
// StatefulSets come from the cache (they carry the managed-by label). ReplicaSets are not cached,
// so they are listed only while the cluster has no core StatefulSet of ours: a cluster the
// operator already runs costs no extra read.
func (r *EMQXReconciler) foreignWorkloads(ctx context.Context, e *v2beta1.EMQX) (*validation.Problem, error) {
	mine := map[string]bool{e.CoreWorkloadName(): true, e.ReplicantWorkloadName(): true}
	var found []string
	sets := &appsv1.StatefulSetList{}
	if err := r.Client.List(ctx, sets, client.InNamespace(e.Namespace), client.MatchingLabels{v2beta1.LabelInstance: e.Name}); err != nil {
		return nil, err
	}
	haveCore := false
	for _, s := range sets.Items {
		switch {
		case s.Name == e.CoreWorkloadName():
			haveCore = true
		case !mine[s.Name]:
			found = append(found, "StatefulSet "+s.Name)
		}
	}
	if !haveCore {
		rsets := &appsv1.ReplicaSetList{}
		if err := r.APIReader.List(ctx, rsets, client.InNamespace(e.Namespace), client.MatchingLabels{v2beta1.LabelInstance: e.Name}); err != nil {
			return nil, err
		}
		for _, s := range rsets.Items {
			if s.Status.Replicas > 0 || s.Spec.Replicas == nil || *s.Spec.Replicas > 0 {
				found = append(found, "ReplicaSet "+s.Name)
			}
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	sort.Strings(found)
	return &validation.Problem{Reason: reasonForeignWorkloads, Retry: true, Message: fmt.Sprintf(
		"the nodes of %s run in workloads another operator made (%s), probably the vendor's emqx-operator; "+
			"this operator changes nothing while they exist, so no pod, PVC or Service is touched. "+
			"Taking running workloads over is not supported yet: see docs/migration.md",
		e.Name, strings.Join(found, ", "))}, nil
}
