package emqx

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;patch;delete

// foreignCheck is what foreignWorkloads found.
type foreignCheck struct {
	// Problem holds the cluster (nil: go on).
	Problem *validation.Problem
	// Recorded: the vendor's core StatefulSet was just recorded as adopted; the pass ends there
	// and the next one (the annotation change triggers it) works under that name.
	Recorded bool
	// ReplicaSets are the vendor's replicant ReplicaSets left, drained node by node.
	ReplicaSets []appsv1.ReplicaSet
}

// adopting reports whether the user asked the operator to take the vendor's workloads over.
func adopting(e *v2beta1.EMQX) bool {
	return e.Annotations[v2beta1.AnnotationAdoptVendorWorkloads] == "true"
}

// foreignWorkloads looks for workloads of the cluster this operator did not make: the vendor's
// emqx-operator names them <name>-core-<hash> (a StatefulSet) and <name>-replicant-<hash>
// (ReplicaSets), with the same instance and managed-by labels as ours.
//
// Without the user's go-ahead (AnnotationAdoptVendorWorkloads) such a cluster is held: nothing is
// changed, since applying our objects next to them would take over their Services, and the
// lifecycle layer would roll their pods. With it, the one core StatefulSet is adopted under its own
// name (recorded in AnnotationCoreStatefulSet: its selector, claim templates and service name
// cannot change, and its PVCs carry its name) and rolled onto this operator's pod template, and
// the replicant ReplicaSets are returned to be drained node by node. Layouts the operator cannot
// take over safely (several core StatefulSets with pods, a core StatefulSet of ours as well) stay
// held, with what to do.
//
// Both StatefulSets and ReplicaSets come from the cache (they carry the managed-by label).
func (r *EMQXReconciler) foreignWorkloads(ctx context.Context, e *v2beta1.EMQX) (foreignCheck, error) {
	sets := &appsv1.StatefulSetList{}
	if err := r.Client.List(ctx, sets, client.InNamespace(e.Namespace), pipeline.OfInstance(e.Name), client.MatchingLabels{v2beta1.LabelInstance: e.Name}); err != nil {
		return foreignCheck{}, err
	}
	var vendorCores []appsv1.StatefulSet
	var found []string
	haveOwnDefaultCore := false
	for _, s := range sets.Items {
		switch {
		case s.Name == e.CoreWorkloadName() || s.Name == e.ReplicantWorkloadName():
			haveOwnDefaultCore = haveOwnDefaultCore || s.Name == e.DefaultCoreWorkloadName()
		case s.Labels[v2beta1.LabelDBRole] == v2beta1.RoleCore && hasPods(s):
			vendorCores = append(vendorCores, s)
			found = append(found, "StatefulSet "+s.Name)
		case hasPods(s):
			found = append(found, "StatefulSet "+s.Name)
		}
	}
	rsets := &appsv1.ReplicaSetList{}
	if err := r.Client.List(ctx, rsets, client.InNamespace(e.Namespace), pipeline.OfInstance(e.Name), client.MatchingLabels{v2beta1.LabelInstance: e.Name}); err != nil {
		return foreignCheck{}, err
	}
	for _, s := range rsets.Items {
		if s.Status.Replicas > 0 || s.Spec.Replicas == nil || *s.Spec.Replicas > 0 {
			found = append(found, "ReplicaSet "+s.Name)
		}
	}
	if len(found) == 0 {
		return foreignCheck{ReplicaSets: rsets.Items}, nil
	}
	sort.Strings(found)
	held := func(why string) *validation.Problem {
		return &validation.Problem{Reason: pipeline.ReasonForeignWorkloads, Retry: true, Message: fmt.Sprintf(
			"the nodes of %s run in workloads another operator made (%s), probably the vendor's emqx-operator; %s",
			e.Name, strings.Join(found, ", "), why)}
	}
	switch {
	case !adopting(e):
		return foreignCheck{Problem: held(fmt.Sprintf("this operator changes nothing while they exist, so no pod, PVC or Service is touched. "+
			"Uninstall the vendor's operator, then set the annotation %s=true on this EMQX to have them taken over "+
			"without an outage (see docs/migration.md)", v2beta1.AnnotationAdoptVendorWorkloads))}, nil
	case len(vendorCores) > 1:
		return foreignCheck{Problem: held("several core StatefulSets have pods (the vendor's operator was replacing one): finish or roll back " +
			"that update with the vendor's operator, or scale the old StatefulSet to 0, then this operator takes the cluster over")}, nil
	case len(vendorCores) == 1 && haveOwnDefaultCore:
		return foreignCheck{Problem: held(fmt.Sprintf("this operator's StatefulSet %s exists too, so there are two core StatefulSets: delete the one "+
			"that is not in use", e.DefaultCoreWorkloadName()))}, nil
	case len(vendorCores) == 1:
		// Adopt the vendor's core StatefulSet under its name; the next pass works on it.
		if err := r.recordAdoptedCore(ctx, e, vendorCores[0].Name); err != nil {
			return foreignCheck{}, err
		}
		return foreignCheck{Recorded: true}, nil
	}
	return foreignCheck{ReplicaSets: rsets.Items}, nil
}

func hasPods(s appsv1.StatefulSet) bool {
	return s.Status.Replicas > 0 || s.Spec.Replicas == nil || *s.Spec.Replicas > 0
}

// recordAdoptedCore writes the adopted core StatefulSet's name on the EMQX resource, where it
// survives operator restarts and status rewrites, and says so with an Event.
func (r *EMQXReconciler) recordAdoptedCore(ctx context.Context, e *v2beta1.EMQX, name string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v2beta1.AnnotationCoreStatefulSet, name)
	live := &v2beta1.EMQX{ObjectMeta: e.ObjectMeta}
	if err := r.Client.Patch(ctx, live, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("recording the adopted core StatefulSet %s: %w", name, err)
	}
	r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "AdoptingWorkloads", "Adopt",
		"taking over the vendor's core StatefulSet %s under its name (its PVCs stay); its pods are rolled onto this operator's template one at a time", name)
	return nil
}

// removeForeignPDBs deletes the vendor's PodDisruptionBudgets of an adopted cluster: they select
// the same pods as this operator's, and a pod under two budgets cannot be evicted at all.
func (r *EMQXReconciler) removeForeignPDBs(ctx context.Context, e *v2beta1.EMQX) error {
	list := &policyv1.PodDisruptionBudgetList{}
	if err := r.Client.List(ctx, list, client.InNamespace(e.Namespace), pipeline.OfInstance(e.Name), client.MatchingLabels{v2beta1.LabelInstance: e.Name}); err != nil {
		return err
	}
	for i := range list.Items {
		pdb := &list.Items[i]
		if pdb.Name == e.CoreWorkloadName() || pdb.Name == e.ReplicantWorkloadName() {
			continue
		}
		if err := r.Client.Delete(ctx, pdb, client.Preconditions{UID: &pdb.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting the vendor's PodDisruptionBudget %s: %w", pdb.Name, err)
		}
		r.Recorder.Eventf(e, pdb, corev1.EventTypeNormal, "Deleted", "Adopt",
			"the vendor's PodDisruptionBudget %s deleted: the operator's own budgets cover the same pods", pdb.Name)
	}
	return nil
}
