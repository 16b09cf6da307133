package emqx

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// expandVolumes grows the core PVCs in place to the size the spec asks for. A StatefulSet never
// resizes the PVCs it made (its volumeClaimTemplates only shape new ones), so without this a
// larger size would reach new nodes only. It returns why a PVC cannot follow ("" when all can):
// a StorageClass without allowVolumeExpansion, or a smaller size (Kubernetes never shrinks one).
func (r *EMQXReconciler) expandVolumes(ctx context.Context, e *v2beta1.EMQX) (string, error) {
	want, ok := e.Spec.CoreTemplate.Spec.VolumeClaimTemplates.Resources.Requests[corev1.ResourceStorage]
	if !ok || want.IsZero() {
		return "", nil
	}
	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := r.Client.List(ctx, pvcs, client.InNamespace(e.Namespace), pipeline.OfInstance(e.Name), client.MatchingLabels(e.RoleSelectorLabels(v2beta1.RoleCore))); err != nil {
		return "", err
	}
	for i := range pvcs.Items {
		pvc := &pvcs.Items[i]
		have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		switch have.Cmp(want) {
		case 0:
			continue
		case 1:
			return fmt.Sprintf("PVC %s keeps %s: Kubernetes cannot shrink a volume to %s", pvc.Name, have.String(), want.String()), nil
		}
		sc := &storagev1.StorageClass{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: ptr.Deref(pvc.Spec.StorageClassName, "")}, sc); err != nil {
			return fmt.Sprintf("PVC %s stays at %s: its StorageClass %q cannot be read: %v", pvc.Name, have.String(), ptr.Deref(pvc.Spec.StorageClassName, ""), err), nil
		}
		if !ptr.Deref(sc.AllowVolumeExpansion, false) {
			return fmt.Sprintf("PVC %s stays at %s: StorageClass %s does not allow volume expansion", pvc.Name, have.String(), sc.Name), nil
		}
		patch := client.MergeFrom(pvc.DeepCopy())
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = want.DeepCopy()
		if err := r.Client.Patch(ctx, pvc, patch); err != nil {
			return "", fmt.Errorf("expanding PVC %s: %w", pvc.Name, err)
		}
		r.Recorder.Eventf(e, pvc, corev1.EventTypeNormal, "ExpandVolume", "Resize", "PVC %s expanded from %s to %s in place", pvc.Name, have.String(), want.String())
	}
	return "", nil
}
