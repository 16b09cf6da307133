package backup

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/backup"
)

func newRestoreReconciler() *EMQXRestoreReconciler {
	return &EMQXRestoreReconciler{Client: mgrClient, APIReader: apiReader, Scheme: scheme, Recorder: recorder, Image: "operator:test"}
}

func reconcileRestore(t *testing.T, r *EMQXRestoreReconciler, ns, name string) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

func getRestore(t *testing.T, ns, name string) *v2beta1.EMQXRestore {
	t.Helper()
	rs := &v2beta1.EMQXRestore{}
	get(t, ns, name, rs)
	return rs
}

func setCondition(t *testing.T, e *v2beta1.EMQX, typ string, ok bool) {
	t.Helper()
	live := getEMQX(t, e.Namespace, e.Name)
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&live.Status.Conditions, metav1.Condition{Type: typ, Status: st, Reason: "Test", Message: "test"})
	if err := directAPI.Status().Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, live)
}

// succeededBackup is a backup that stored emqx-export-1.tar.gz on the PVC backups.
func succeededBackup(t *testing.T, ns, name, cluster string) {
	t.Helper()
	b := newBackup(ns, name, cluster)
	create(t, b)
	b.Status = v2beta1.EMQXBackupStatus{RunStatus: v2beta1.RunStatus{Phase: v2beta1.BackupSucceeded, CompletionTime: ptr.To(metav1.Now())},
		Filename: "emqx-export-1.tar.gz", SHA256: strings.Repeat("ab", 32), Size: 10}
	if err := directAPI.Status().Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, b)
}

// TestRestoreRunsOnceAsAJob: a restore waits for the cluster's cores, then imports the backup's
// archive with its checksum as a Job under the cluster's backup ServiceAccount; its report becomes
// the status, and a finished restore is never run again. A restore of a failed backup fails at once.
func TestRestoreRunsOnceAsAJob(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "rs", 1, 0)
	create(t, e)
	createPVC(t, ns, "backups")
	succeededBackup(t, ns, "good", "other-cluster")
	r := newRestoreReconciler()

	rs := &v2beta1.EMQXRestore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "import"},
		Spec: v2beta1.EMQXRestoreSpec{ClusterName: e.Name, BackupName: "good"}}
	create(t, rs)
	waitForCache(t, rs)
	reconcileRestore(t, r, ns, rs.Name)
	if got := getRestore(t, ns, rs.Name); got.Status.Phase != v2beta1.BackupPending || !strings.Contains(got.Status.Message, "core nodes") {
		t.Fatalf("status = %+v", got.Status)
	}
	setCondition(t, e, v2beta1.CoreNodesReady, true)
	reconcileRestore(t, r, ns, rs.Name)
	got := getRestore(t, ns, rs.Name)
	if got.Status.Phase != v2beta1.BackupRunning {
		t.Fatalf("status = %+v", got.Status)
	}
	job := &batchv1.Job{}
	get(t, ns, rs.JobName(), job)
	pod := job.Spec.Template.Spec
	want := "/manager restore --namespace " + ns + " --cluster rs --file emqx-export-1.tar.gz --sha256 " + strings.Repeat("ab", 32) + " --dir /backup"
	if strings.Join(pod.Containers[0].Command, " ") != want || pod.ServiceAccountName != "rs-backup" || *job.Spec.BackoffLimit != 0 {
		t.Errorf("restore Job: %v as %s", pod.Containers[0].Command, pod.ServiceAccountName)
	}

	finishJobPod(t, ns, rs.JobName(), true, backup.RestoreReport{Restored: backup.Restored{Node: "rs-core-0", Filename: "emqx-export-1.tar.gz", Size: 10}})
	completeNamedJob(t, ns, rs.JobName(), true)
	waitForCache(t, getRestore(t, ns, rs.Name))
	reconcileRestore(t, r, ns, rs.Name)
	if got := getRestore(t, ns, rs.Name); got.Status.Phase != v2beta1.BackupSucceeded || !strings.Contains(got.Status.Message, "imported emqx-export-1.tar.gz") {
		t.Errorf("status = %+v", got.Status)
	}
	waitForEvent(t, ns, v2beta1.BackupSucceeded, "imported emqx-export-1.tar.gz")
	if err := directAPI.Delete(context.Background(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	reconcileRestore(t, r, ns, rs.Name)
	again := &batchv1.Job{}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: rs.JobName()}, again); err == nil && again.UID != job.UID {
		t.Error("a finished restore started a new Job")
	}

	// A restore of a backup that failed can never run.
	bad := newBackup(ns, "bad", e.Name)
	create(t, bad)
	bad.Status.Phase, bad.Status.Message = v2beta1.BackupFailed, "export: 500"
	if err := directAPI.Status().Update(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, bad)
	rs2 := &v2beta1.EMQXRestore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "from-bad"},
		Spec: v2beta1.EMQXRestoreSpec{ClusterName: e.Name, BackupName: "bad"}}
	create(t, rs2)
	waitForCache(t, rs2)
	reconcileRestore(t, r, ns, rs2.Name)
	if got := getRestore(t, ns, rs2.Name); got.Status.Phase != v2beta1.BackupFailed || !strings.Contains(got.Status.Message, "no archive to restore") {
		t.Errorf("status = %+v", got.Status)
	}
}

// TestRestoreFromMakesTheRestoreOnce: a cluster with spec.restoreFrom gets one EMQXRestore, owned
// by it, recorded in status.restore, and is not Ready while it has not succeeded; a deleted
// restore is not made again (an import never runs twice by accident).
func TestRestoreFromMakesTheRestoreOnce(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "fresh", 1, 0)
	e.Spec.RestoreFrom = &v2beta1.RestoreFrom{BackupName: "nightly-1"}
	create(t, e)
	waitForCache(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	rs := getRestore(t, ns, e.InitialRestoreName())
	if rs.Spec.BackupName != "nightly-1" || rs.Spec.ClusterName != e.Name || len(rs.OwnerReferences) != 1 {
		t.Errorf("restore = %+v", rs)
	}
	live := getEMQX(t, ns, e.Name)
	if live.Status.Restore == nil || live.Status.Restore.Name != rs.Name || live.Status.Restore.Phase != v2beta1.BackupPending {
		t.Errorf("status.restore = %+v", live.Status.Restore)
	}
	if c := meta.FindStatusCondition(live.Status.Conditions, v2beta1.DataRestored); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("DataRestored = %+v", c)
	}
	if meta.IsStatusConditionTrue(live.Status.Conditions, v2beta1.Ready) {
		t.Error("Ready before the restore")
	}

	if err := directAPI.Delete(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, live)
	eventually(t, 5e9, func() error {
		if err := mgrClient.Get(context.Background(), client.ObjectKeyFromObject(rs), &v2beta1.EMQXRestore{}); err == nil {
			return errString("the cache still has the restore")
		}
		return nil
	})
	reconcileOnce(t, r, ns, e.Name)
	if err := directAPI.Get(context.Background(), client.ObjectKeyFromObject(rs), &v2beta1.EMQXRestore{}); err == nil {
		t.Error("a deleted restore was made again")
	}
	live = getEMQX(t, ns, e.Name)
	if live.Status.Restore == nil || live.Status.Restore.Phase != v2beta1.BackupFailed {
		t.Errorf("status.restore = %+v", live.Status.Restore)
	}
	if c := meta.FindStatusCondition(live.Status.Conditions, v2beta1.DataRestored); c == nil || !strings.Contains(c.Message, "does not import twice") {
		t.Errorf("DataRestored = %+v", c)
	}
}
