package pipeline

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// InstanceIndex is the manager cache's index of pods, StatefulSets, ReplicaSets, PVCs and PDBs by the
// cluster they belong to (their apps.emqx.io/instance label; controllers.IndexFields makes it).
// Without it a cached list by label reads every object of the namespace and matches labels one by
// one: clusters sharing a namespace then make each other's passes slower, by the fleet's size.
const InstanceIndex = "apps.emqx.io/instance"

// OfInstance narrows a cached list to the objects of one cluster through InstanceIndex. Only for
// the manager's cached client (the API server knows no such field); keep the label selector beside
// it, which says what the list means.
func OfInstance(name string) client.MatchingFields {
	return client.MatchingFields{InstanceIndex: name}
}

// InstanceOf is the index function: the object's cluster, if it has one.
func InstanceOf(o client.Object) []string {
	if v, ok := o.GetLabels()[v2beta1.LabelInstance]; ok {
		return []string{v}
	}
	return nil
}
