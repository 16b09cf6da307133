package backup

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/backup"
)

// TestS3BackupWaitsForItsCredentials: a backup to S3 stays Pending, saying which Secret or key is
// missing, until the credentials exist; its Job gets them as env from that Secret (the operator
// never reads them) and the bucket as flags.
func TestS3BackupWaitsForItsCredentials(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "s3c", 1, 0)
	create(t, e)
	setReady(t, e, true)
	r := newBackupReconciler()
	b := &v2beta1.EMQXBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "to-s3"},
		Spec: v2beta1.EMQXBackupSpec{ClusterName: e.Name, BackupStorage: v2beta1.BackupStorage{S3: &v2beta1.BackupS3{
			Endpoint: "https://s3.example.com", Bucket: "emqx-backups", Prefix: "prod/", Region: "eu-west-1", CredentialsSecretName: "s3-creds"}}}}
	create(t, b)
	waitForCache(t, b)

	reconcileBackup(t, r, ns, b.Name)
	if got := getBackup(t, ns, b.Name); got.Status.Phase != v2beta1.BackupPending || !strings.Contains(got.Status.Message, "Secret s3-creds not found") {
		t.Fatalf("status = %+v", got.Status)
	}
	waitForEvent(t, ns, "Waiting", "s3-creds not found")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3-creds"}, StringData: map[string]string{v2beta1.S3AccessKeyIDKey: "AKIA"}}
	create(t, sec)
	reconcileBackup(t, r, ns, b.Name)
	if got := getBackup(t, ns, b.Name); !strings.Contains(got.Status.Message, "has no key AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("status = %+v", got.Status)
	}
	sec.StringData = map[string]string{v2beta1.S3SecretAccessKeyKey: "secret"}
	if err := directAPI.Update(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	reconcileBackup(t, r, ns, b.Name)
	if got := getBackup(t, ns, b.Name); got.Status.Phase != v2beta1.BackupRunning {
		t.Fatalf("status = %+v", got.Status)
	}
	job := &batchv1.Job{}
	get(t, ns, b.JobName(), job)
	c := job.Spec.Template.Spec.Containers[0]
	want := "/manager backup --namespace " + ns + " --cluster s3c --s3-endpoint https://s3.example.com --s3-bucket emqx-backups --s3-prefix prod/ --s3-region eu-west-1"
	if strings.Join(c.Command, " ") != want || len(job.Spec.Template.Spec.Volumes) != 0 {
		t.Errorf("command = %v, volumes %v", c.Command, job.Spec.Template.Spec.Volumes)
	}
	if len(c.Env) != 2 || c.Env[0].ValueFrom.SecretKeyRef.Name != "s3-creds" || c.Env[1].ValueFrom.SecretKeyRef.Key != v2beta1.S3SecretAccessKeyKey {
		t.Errorf("env = %+v", c.Env)
	}
}

// TestArchivePolicyDeleteDeletesTheArchive: a backup with archivePolicy Delete carries a finalizer
// from before its Job starts; deleting it runs a Job that deletes the archive (no service-account
// token: it needs no API access), and only its success lets the backup go. A failed deletion keeps
// the backup and says why.
func TestArchivePolicyDeleteDeletesTheArchive(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "del", 1, 0)
	create(t, e)
	createPVC(t, ns, "backups")
	setReady(t, e, true)
	r := newBackupReconciler()
	b := newBackup(ns, "nightly-1", e.Name)
	b.Spec.ArchivePolicy = v2beta1.ArchiveDelete
	create(t, b)
	waitForCache(t, b)
	reconcileBackup(t, r, ns, b.Name)
	got := getBackup(t, ns, b.Name)
	if len(got.Finalizers) != 1 || got.Finalizers[0] != v2beta1.ArchiveFinalizer || got.Status.Phase != v2beta1.BackupRunning {
		t.Fatalf("backup = %v %+v", got.Finalizers, got.Status)
	}
	finishJob(t, b, true, backup.Report{Result: backup.Result{Filename: "emqx-export-9.tar.gz", Size: 9, SHA256: "aa", Location: "/backup/emqx-export-9.tar.gz"}})
	waitForCache(t, getBackup(t, ns, b.Name))
	reconcileBackup(t, r, ns, b.Name)

	if err := directAPI.Delete(context.Background(), getBackup(t, ns, b.Name)); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, getBackup(t, ns, b.Name))
	reconcileBackup(t, r, ns, b.Name)
	del := &batchv1.Job{}
	get(t, ns, b.DeleteJobName(), del)
	pod := del.Spec.Template.Spec
	if strings.Join(pod.Containers[0].Command, " ") != "/manager backup --delete emqx-export-9.tar.gz --dir /backup" ||
		pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken || pod.ServiceAccountName != "" ||
		pod.Volumes[0].PersistentVolumeClaim.ClaimName != "backups" {
		t.Errorf("delete Job pod = %+v", pod)
	}
	waitForEvent(t, ns, "DeletingArchive", "emqx-export-9.tar.gz")

	// The deletion fails: the backup stays, and a new Job will try again.
	finishJobPod(t, ns, b.DeleteJobName(), false, backup.Report{Error: "deleting emqx-export-9.tar.gz: permission denied"})
	completeNamedJob(t, ns, b.DeleteJobName(), false)
	if res := reconcileBackup(t, r, ns, b.Name); res.RequeueAfter == 0 {
		t.Error("a failed archive deletion is not retried")
	}
	if got := getBackup(t, ns, b.Name); !strings.Contains(got.Status.Message, "permission denied") || len(got.Finalizers) != 1 {
		t.Errorf("backup after a failed deletion = %v %+v", got.Finalizers, got.Status)
	}
	eventually(t, 10*time.Second, func() error {
		old := &batchv1.Job{}
		err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: b.DeleteJobName()}, old)
		if err == nil && old.UID == del.UID && old.DeletionTimestamp.IsZero() {
			return errString("the failed delete Job is still there")
		}
		return nil
	})
	// envtest has no garbage collector: the failed Job's pod, with its failed report, stays, as
	// it may in a real cluster for a while. The retry's report must come from the retry's pod.
	eventually(t, 10*time.Second, func() error {
		reconcileBackup(t, r, ns, b.Name)
		return directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: b.DeleteJobName()}, &batchv1.Job{})
	})
	finishJobPod(t, ns, b.DeleteJobName(), true, backup.Report{Result: backup.Result{Filename: "emqx-export-9.tar.gz"}})
	completeNamedJob(t, ns, b.DeleteJobName(), true)
	reconcileBackup(t, r, ns, b.Name)
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: b.Name}, &v2beta1.EMQXBackup{}); !apierrors.IsNotFound(err) {
		t.Errorf("the backup is still there after its archive was deleted: %v", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
