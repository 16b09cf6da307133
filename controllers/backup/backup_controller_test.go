package backup

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/backup"
)

func newBackupReconciler() *EMQXBackupReconciler {
	return &EMQXBackupReconciler{Client: mgrClient, APIReader: apiReader, Scheme: scheme, Recorder: recorder, Image: "operator:test"}
}

func reconcileBackup(t *testing.T, r *EMQXBackupReconciler, ns, name string) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

func newBackup(ns, name, cluster string) *v2beta1.EMQXBackup {
	return &v2beta1.EMQXBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.EMQXBackupSpec{ClusterName: cluster, BackupStorage: v2beta1.BackupStorage{
			PVC: &v2beta1.BackupPVC{ClaimName: "backups", SubPath: "emqx"}}}}
}

// createPVC makes the claim backups are stored on (envtest binds nothing; it only has to exist).
func createPVC(t *testing.T, ns, name string) {
	t.Helper()
	create(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: mustQuantity("1Gi")}}}})
}

func getBackup(t *testing.T, ns, name string) *v2beta1.EMQXBackup {
	t.Helper()
	b := &v2beta1.EMQXBackup{}
	get(t, ns, name, b)
	return b
}

func setReady(t *testing.T, e *v2beta1.EMQX, ready bool) {
	t.Helper()
	live := getEMQX(t, e.Namespace, e.Name)
	st := metav1.ConditionFalse
	if ready {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&live.Status.Conditions, metav1.Condition{Type: v2beta1.Ready, Status: st, Reason: "Test", Message: "nodes joining"})
	if err := directAPI.Status().Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, live)
}

// finishJob plays the Job controller and kubelet: the backup pod ends with the report as its
// termination message and the Job gets its final condition.
func finishJob(t *testing.T, b *v2beta1.EMQXBackup, ok bool, report backup.Report) {
	t.Helper()
	finishPod(t, b, ok, report)
	completeJob(t, b, ok)
}

func finishPod(t *testing.T, b *v2beta1.EMQXBackup, ok bool, report backup.Report) {
	t.Helper()
	finishJobPod(t, b.Namespace, b.JobName(), ok, report)
}

func completeJob(t *testing.T, b *v2beta1.EMQXBackup, ok bool) {
	t.Helper()
	completeNamedJob(t, b.Namespace, b.JobName(), ok)
}

// finishJobPod is the kubelet's part: the Job's pod ends with the report as termination message.
func finishJobPod(t *testing.T, ns, jobName string, ok bool, report any) {
	t.Helper()
	msg, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{}
	get(t, ns, jobName, job)
	labels := map[string]string{jobPodLabel: string(job.UID)}
	for k, v := range job.Spec.Template.Labels {
		labels[k] = v
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: jobName + "-" + string(job.UID)[:5], Labels: labels},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "backup", Image: "operator:test"}}}}
	create(t, pod)
	code := int32(0)
	if !ok {
		code = 1
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{Name: "backup",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: string(msg)}}}}}
	if err := directAPI.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, pod)
}

// completeNamedJob is the Job controller's part: the Job gets its final condition.
func completeNamedJob(t *testing.T, ns, jobName string, ok bool) {
	t.Helper()
	job := &batchv1.Job{}
	get(t, ns, jobName, job)
	now := metav1.Now()
	cond := batchv1.JobComplete
	if !ok {
		cond = batchv1.JobFailed
	}
	// The API server requires the conditions a real Job controller sets before the final one.
	interim := batchv1.JobSuccessCriteriaMet
	if !ok {
		interim = batchv1.JobFailureTarget
	}
	job.Status.StartTime = &now
	job.Status.CompletionTime = nil
	if ok {
		job.Status.CompletionTime = &now
		job.Status.Succeeded = 1
	} else {
		job.Status.Failed = 1
	}
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: interim, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "Test"},
		{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "Test", Message: "test"}}
	if err := directAPI.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, job)
}

// TestBackupRunsOnceAsAJob: a backup waits while its cluster is not Ready, then runs as a Job
// (the operator's image, `manager backup`, the PVC, a ServiceAccount that may only list the pods
// and read the operator's key); a second backup of the same cluster waits for the first; the
// Job's report becomes the backup's status, and a finished backup never runs again.
func TestBackupRunsOnceAsAJob(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "bk", 1, 0)
	create(t, e)
	createPVC(t, ns, "backups")
	r := newBackupReconciler()

	first := newBackup(ns, "first", e.Name)
	create(t, first)
	waitForCache(t, first)
	if res := reconcileBackup(t, r, ns, first.Name); res.RequeueAfter == 0 {
		t.Error("a waiting backup is not looked at again")
	}
	if b := getBackup(t, ns, first.Name); b.Status.Phase != v2beta1.BackupPending || !strings.Contains(b.Status.Message, "to be Ready") {
		t.Errorf("status = %+v", b.Status)
	}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: first.JobName()}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a Job was started for a cluster that is not Ready (%v)", err)
	}

	setReady(t, e, true)
	waitForCache(t, getBackup(t, ns, first.Name))
	reconcileBackup(t, r, ns, first.Name)
	b := getBackup(t, ns, first.Name)
	if b.Status.Phase != v2beta1.BackupRunning || b.Status.StartTime == nil || b.Status.JobName != first.JobName() {
		t.Fatalf("status = %+v", b.Status)
	}
	job := &batchv1.Job{}
	get(t, ns, first.JobName(), job)
	pod := job.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != "operator:test" || strings.Join(c.Command, " ") != "/manager backup --namespace "+ns+" --cluster bk --dir /backup" {
		t.Errorf("container = %s %v", c.Image, c.Command)
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[0].PersistentVolumeClaim.ClaimName != "backups" ||
		c.VolumeMounts[0].SubPath != "emqx" || pod.ServiceAccountName != "bk-backup" {
		t.Errorf("pod = %+v", pod)
	}
	// The backup pod passes Pod Security restricted (dry-run in a namespace that enforces it).
	restricted := newNamespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: restricted, Name: "backup-pod"}, Spec: *pod.DeepCopy()}
	probe.Spec.ServiceAccountName = ""
	if err := directAPI.Create(context.Background(), probe, client.DryRunAll); err != nil {
		t.Errorf("the backup pod does not pass Pod Security restricted: %v", err)
	}
	if job.Labels[v2beta1.LabelInstance] != "" {
		t.Error("backup pods carry the cluster's instance label: they would count as its nodes")
	}
	role := &rbacv1.Role{}
	get(t, ns, "bk-backup", role)
	if len(role.Rules) != 2 || role.Rules[1].ResourceNames[0] != e.OperatorKeySecretName() {
		t.Errorf("backup Role = %+v", role.Rules)
	}

	second := newBackup(ns, "second", e.Name)
	create(t, second)
	waitForCache(t, second)
	reconcileBackup(t, r, ns, second.Name)
	if s := getBackup(t, ns, second.Name); s.Status.Phase != v2beta1.BackupPending || !strings.Contains(s.Status.Message, "Job first-backup") {
		t.Errorf("second backup = %+v", s.Status)
	}

	finishJob(t, first, true, backup.Report{Result: backup.Result{Node: "emqx@bk-core-0", Filename: "emqx-export-1.tar.gz",
		Size: 2048, SHA256: "abc123", Location: "/backup/emqx-export-1.tar.gz"}})
	waitForCache(t, getBackup(t, ns, first.Name))
	reconcileBackup(t, r, ns, first.Name)
	b = getBackup(t, ns, first.Name)
	if b.Status.Phase != v2beta1.BackupSucceeded || b.Status.Filename != "emqx-export-1.tar.gz" || b.Status.Size != 2048 ||
		b.Status.SHA256 != "abc123" || b.Status.Node != "emqx@bk-core-0" || b.Status.CompletionTime == nil {
		t.Errorf("status = %+v", b.Status)
	}
	waitForEvent(t, ns, "Succeeded", "emqx-export-1.tar.gz")

	// The second one starts now, and its failure is reported with the command's reason.
	waitForCache(t, getBackup(t, ns, second.Name))
	reconcileBackup(t, r, ns, second.Name)
	if s := getBackup(t, ns, second.Name); s.Status.Phase != v2beta1.BackupRunning {
		t.Fatalf("second backup = %+v", s.Status)
	}
	finishJob(t, second, false, backup.Report{Error: "export: 500 INTERNAL_ERROR"})
	waitForCache(t, getBackup(t, ns, second.Name))
	reconcileBackup(t, r, ns, second.Name)
	if s := getBackup(t, ns, second.Name); s.Status.Phase != v2beta1.BackupFailed || !strings.Contains(s.Status.Message, "500 INTERNAL_ERROR") {
		t.Errorf("second backup = %+v", s.Status)
	}

	// A finished backup is never run again, even when its Job is gone.
	if err := directAPI.Delete(context.Background(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	reconcileBackup(t, r, ns, first.Name)
	again := &batchv1.Job{}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: first.JobName()}, again); err == nil && again.UID != job.UID {
		t.Error("a finished backup started a new Job")
	}
	if b := getBackup(t, ns, first.Name); b.Status.Phase != v2beta1.BackupSucceeded {
		t.Errorf("finished backup changed: %+v", b.Status)
	}
}

// TestBackupWaitsForTheReportOfAFinishedJob: the Job's end can reach the operator before the
// pod's termination message; a backup is final once finished, so it waits for the report
// instead of calling it failed.
func TestBackupWaitsForTheReportOfAFinishedJob(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "late", 1, 0)
	create(t, e)
	createPVC(t, ns, "backups")
	setReady(t, e, true)
	r := newBackupReconciler()
	b := newBackup(ns, "b", e.Name)
	create(t, b)
	waitForCache(t, b)
	reconcileBackup(t, r, ns, b.Name)

	completeJob(t, b, true)
	waitForCache(t, getBackup(t, ns, b.Name))
	if res := reconcileBackup(t, r, ns, b.Name); res.RequeueAfter == 0 {
		t.Error("a finished Job without a report is not looked at again")
	}
	if got := getBackup(t, ns, b.Name); got.Status.Phase != v2beta1.BackupRunning {
		t.Fatalf("status = %+v, want Running until the report arrives", got.Status)
	}
	finishPod(t, b, true, backup.Report{Result: backup.Result{Filename: "emqx-export-2.tar.gz", Size: 10, SHA256: "ff"}})
	reconcileBackup(t, r, ns, b.Name)
	if got := getBackup(t, ns, b.Name); got.Status.Phase != v2beta1.BackupSucceeded || got.Status.Filename != "emqx-export-2.tar.gz" {
		t.Errorf("status = %+v", got.Status)
	}
}
