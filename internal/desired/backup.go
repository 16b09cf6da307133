package desired

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// BackupMountPath is where a backup Job mounts the PVC the archive goes to.
const BackupMountPath = "/backup"

// backupUID is the user the backup Job runs as (the operator image's non-root user); fsGroup
// makes the PVC writable for it.
const backupUID = 65532

// BackupJob is the Job that takes one backup: the operator's own image running `manager backup`,
// as the cluster's backup ServiceAccount, with the PVC mounted. It is owned by the backup, so
// deleting the backup removes the Job, never the archive (the PVC is the user's).
func BackupJob(b *v2beta1.EMQXBackup, e *v2beta1.EMQX, image string) *batchv1.Job {
	labels := b.BackupLabels()
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: b.JobName(), Namespace: b.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			// A failed attempt already reported why; retrying an export blindly could hide it.
			// The command itself waits for nothing: a cluster that is not ready is caught before
			// the Job is made.
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To[int64](900),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: e.BackupServiceAccountName(),
					RestartPolicy:      corev1.RestartPolicyNever,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](backupUID),
						FSGroup:        ptr.To[int64](backupUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  "backup",
						Image: image,
						Command: []string{"/manager", "backup", "--namespace", e.Namespace, "--cluster", e.Name,
							"--dir", BackupMountPath},
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
						VolumeMounts: []corev1.VolumeMount{{Name: "archive", MountPath: BackupMountPath,
							SubPath: b.Spec.PVC.SubPath}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{{Name: "archive", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.Spec.PVC.ClaimName}}}},
				},
			},
		},
	}
}

// BackupAccess is what a cluster's backup Jobs may do: list the cluster's pods (to find a ready
// core) and read the operator's API key Secret of that cluster, nothing else. Owned by the cluster.
func BackupAccess(e *v2beta1.EMQX) []client.Object {
	name := e.BackupServiceAccountName()
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: e.Namespace, Labels: e.SelectorLabels()}
	}
	objs := []client.Object{
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(),
			AutomountServiceAccountToken: ptr.To(true)},
		&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: meta(),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"},
					ResourceNames: []string{e.OperatorKeySecretName()}},
			}},
		&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: meta(),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: e.Namespace}}},
	}
	owner := OwnerReference(e)
	for _, o := range objs {
		o.SetOwnerReferences([]metav1.OwnerReference{owner})
	}
	return objs
}
