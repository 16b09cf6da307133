package simulator

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provisioner is the storage class provisioner name the simulator serves.
const Provisioner = "sim.emqx.io/local"

// provision creates a PersistentVolume bound to each pending claim of the simulator's storage
// class, as a CSI provisioner would; the PV controller then binds the claim.
func (s *Simulator) provision(ctx context.Context, o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if ok && pvc.Status.Phase == corev1.ClaimBound {
		s.resize(ctx, pvc)
		return
	}
	if !ok || pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" ||
		pvc.Annotations["volume.kubernetes.io/storage-provisioner"] != Provisioner {
		return
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-" + string(pvc.UID),
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              storageClass(pvc),
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/emqx-sim/" + string(pvc.UID)},
			},
		},
	}
	if _, err := s.kc.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		s.log.Warn("provisioning a volume", "claim", pvc.Namespace+"/"+pvc.Name, "error", err)
	}
}

func storageClass(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName == nil {
		return ""
	}
	return *pvc.Spec.StorageClassName
}

// resize completes an expansion as a CSI resizer would: the PV grows, then the claim's capacity.
func (s *Simulator) resize(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pvc.Status.Capacity[corev1.ResourceStorage]
	if want.Cmp(have) <= 0 || pvc.Spec.VolumeName == "" {
		return
	}
	pv, err := s.kc.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		s.log.Warn("resizing a volume", "claim", pvc.Namespace+"/"+pvc.Name, "error", err)
		return
	}
	pv.Spec.Capacity[corev1.ResourceStorage] = want
	if _, err := s.kc.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
		s.log.Warn("resizing a volume", "volume", pv.Name, "error", err)
		return
	}
	pvc = pvc.DeepCopy()
	if pvc.Status.Capacity == nil {
		pvc.Status.Capacity = corev1.ResourceList{}
	}
	pvc.Status.Capacity[corev1.ResourceStorage] = want
	if _, err := s.kc.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		s.log.Warn("resizing a claim", "claim", pvc.Namespace+"/"+pvc.Name, "error", err)
	}
}
