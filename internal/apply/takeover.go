package apply

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// takeOver gives an object another operator made this operator's spec by an update. A
// server-side apply alone would keep every field the other operator set that this one does not
// (its volumes and mounts, extra selector keys), and merging two pod templates can produce an
// invalid one (two mounts at one path) or a Service selector that no longer matches the new
// pods. Fields Kubernetes does not let change, or allocates, are kept from the live object.
// Other kinds are left to the server-side apply that follows.
func (a *Applier) takeOver(ctx context.Context, desired, live client.Object) error {
	switch d := desired.(type) {
	case *appsv1.StatefulSet:
		l := live.(*appsv1.StatefulSet).DeepCopy()
		// The desired spec already keeps the live selector, claim templates, service name and
		// pod management policy (desired.KeepImmutable).
		l.Spec.Template = *d.Spec.Template.DeepCopy()
		l.Spec.UpdateStrategy = d.Spec.UpdateStrategy
		l.Spec.Replicas = d.Spec.Replicas
		l.Spec.RevisionHistoryLimit = d.Spec.RevisionHistoryLimit
		l.Spec.PersistentVolumeClaimRetentionPolicy = d.Spec.PersistentVolumeClaimRetentionPolicy
		l.Labels = merged(l.Labels, d.Labels)
		return a.update(ctx, l)
	case *corev1.Service:
		l := live.(*corev1.Service).DeepCopy()
		nodePorts := map[int32]int32{}
		for _, p := range l.Spec.Ports {
			nodePorts[p.Port] = p.NodePort
		}
		l.Spec.Selector = maps.Clone(d.Spec.Selector)
		l.Spec.Ports = nil
		for _, p := range d.Spec.Ports {
			if p.NodePort == 0 && d.Spec.Type != corev1.ServiceTypeClusterIP {
				p.NodePort = nodePorts[p.Port] // allocated ports stay: clients use them
			}
			l.Spec.Ports = append(l.Spec.Ports, p)
		}
		l.Spec.Type = d.Spec.Type
		l.Spec.PublishNotReadyAddresses = d.Spec.PublishNotReadyAddresses
		l.Labels = merged(l.Labels, d.Labels)
		return a.update(ctx, l)
	}
	return nil
}

func (a *Applier) update(ctx context.Context, obj client.Object) error {
	if err := a.Client.Update(ctx, obj, client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("taking over %s: %w", obj.GetName(), err)
	}
	return nil
}

func merged(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}
