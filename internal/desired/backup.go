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

// BackupMountPath is where backup and restore Jobs mount the PVC that holds the archives.
const BackupMountPath = "/backup"

// jobUID is the user backup and restore Jobs run as (the operator image's non-root user);
// fsGroup makes the PVC writable for it.
const jobUID = 65532

// BackupJob is the Job that takes one backup: the operator's own image running `manager backup`,
// as the cluster's backup ServiceAccount, with the storage mounted or its credentials in env. It
// is owned by the backup, so deleting the backup removes the Job; the archive stays unless the
// backup's archivePolicy says Delete.
func BackupJob(b *v2beta1.EMQXBackup, e *v2beta1.EMQX, image string) *batchv1.Job {
	args := append([]string{"/manager", "backup", "--namespace", e.Namespace, "--cluster", e.Name}, storageArgs(b.Spec.BackupStorage)...)
	return archiveJob(b.JobName(), b.Namespace, b.BackupLabels(), e.BackupServiceAccountName(), image, args, b.Spec.BackupStorage)
}

// ArchiveDeleteJob deletes a backup's stored archive (`manager backup --delete`). It needs no
// Kubernetes API access, so it runs without a service-account token: it still works after the
// cluster, and its backup ServiceAccount, are gone.
func ArchiveDeleteJob(b *v2beta1.EMQXBackup, image string) *batchv1.Job {
	args := append([]string{"/manager", "backup", "--delete", b.Status.Filename}, storageArgs(b.Spec.BackupStorage)...)
	j := archiveJob(b.DeleteJobName(), b.Namespace, b.BackupLabels(), "", image, args, b.Spec.BackupStorage)
	j.Spec.Template.Spec.AutomountServiceAccountToken = ptr.To(false)
	return j
}

// RestoreJob imports archive file (checksum sha, "" to use the store's) from storage into the
// restore's cluster (`manager restore`), as the cluster's backup ServiceAccount: it needs the
// same access as a backup (find a ready core, read the operator's key).
func RestoreJob(r *v2beta1.EMQXRestore, e *v2beta1.EMQX, storage v2beta1.BackupStorage, file, sha, image string) *batchv1.Job {
	args := []string{"/manager", "restore", "--namespace", e.Namespace, "--cluster", e.Name, "--file", file}
	if sha != "" {
		args = append(args, "--sha256", sha)
	}
	args = append(args, storageArgs(storage)...)
	return archiveJob(r.JobName(), r.Namespace, r.RestoreLabels(), e.BackupServiceAccountName(), image, args, storage)
}

// storageArgs are the flags naming the storage for `manager backup` and `manager restore`.
func storageArgs(s v2beta1.BackupStorage) []string {
	if s.S3 != nil {
		args := []string{"--s3-endpoint", s.S3.Endpoint, "--s3-bucket", s.S3.Bucket}
		if s.S3.Prefix != "" {
			args = append(args, "--s3-prefix", s.S3.Prefix)
		}
		if s.S3.Region != "" {
			args = append(args, "--s3-region", s.S3.Region)
		}
		return args
	}
	return []string{"--dir", BackupMountPath}
}

func archiveJob(name, ns string, labels map[string]string, serviceAccount, image string, command []string, s v2beta1.BackupStorage) *batchv1.Job {
	c := corev1.Container{
		Name:                     "backup",
		Image:                    image,
		Command:                  command,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	var volumes []corev1.Volume
	switch {
	case s.S3 != nil:
		// The credentials reach the process as env from the user's Secret; the operator never
		// reads them.
		for _, k := range []string{v2beta1.S3AccessKeyIDKey, v2beta1.S3SecretAccessKeyKey} {
			c.Env = append(c.Env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: s.S3.CredentialsSecretName}, Key: k}}})
		}
	case s.PVC != nil:
		c.VolumeMounts = []corev1.VolumeMount{{Name: "archive", MountPath: BackupMountPath, SubPath: s.PVC.SubPath}}
		volumes = []corev1.Volume{{Name: "archive", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: s.PVC.ClaimName}}}}
	}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: batchv1.JobSpec{
			// A failed attempt already reported why; retrying an export or an import blindly
			// could hide it (and an import must never run twice). The command waits for nothing:
			// a cluster that is not ready is caught before the Job is made.
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To[int64](900),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: serviceAccount,
					RestartPolicy:      corev1.RestartPolicyNever,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](jobUID),
						RunAsGroup:     ptr.To[int64](jobUID),
						FSGroup:        ptr.To[int64](jobUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{c},
					Volumes:    volumes,
				},
			},
		},
	}
}

// BackupAccess is what a cluster's backup and restore Jobs may do: list the cluster's pods (to
// find a ready core) and read the operator's API key Secret of that cluster, nothing else. Owned
// by the cluster.
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
