package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/s3server"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

const s3Key, s3Secret = "AKIAE2EBACKUPS", "e2e-backup-secret"

// backupWorld is a namespace with a Ready one-core cluster holding some data, a PVC whose volume
// is a local directory, a JobRunner executing the Job pods, an S3 server on loopback with a
// bucket, and Secrets with right and wrong S3 credentials.
type backupWorld struct {
	ns, cluster, node string
	pvcDir            string
	runner            *harness.JobRunner
	s3                *s3server.Server
	records           map[string]string
}

func newBackupWorld(t *testing.T, cluster string) *backupWorld {
	t.Helper()
	w := &backupWorld{ns: env.NewNamespace(t), cluster: cluster, pvcDir: t.TempDir()}
	create(t, coreReplicantCluster(w.ns, cluster, 1, 0))
	create(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "backups"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}})
	w.runner = env.RunJobs(t, w.ns, map[string]string{"backups": w.pvcDir})
	var err error
	if w.s3, err = s3server.Start("127.0.0.1:0", s3Key, s3Secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.s3.Close)
	if err := w.s3.CreateBucket("emqx"); err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"s3": s3Secret, "s3-wrong": "not-the-secret"} {
		create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
			StringData: map[string]string{v2beta1.S3AccessKeyIDKey: s3Key, v2beta1.S3SecretAccessKeyKey: secret}})
	}
	env.WaitForCondition(t, w.ns, cluster, v2beta1.Ready, metav1.ConditionTrue, 60*time.Second)
	w.node = nodeOf(w.ns, cluster, cluster+"-core-0")
	w.records = map[string]string{"retained/sensors/1": "21.5", "authn/device-7": "pbkdf2$abc", "rule/to-kafka": "SELECT * FROM t"}
	if err := env.Sim.SetRecords(w.node, w.records); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *backupWorld) s3Storage(endpoint, bucket, secret string) v2beta1.BackupStorage {
	return v2beta1.BackupStorage{S3: &v2beta1.BackupS3{Endpoint: endpoint, Bucket: bucket, Prefix: "prod/", CredentialsSecretName: secret}}
}

func (w *backupWorld) pvcStorage() v2beta1.BackupStorage {
	return v2beta1.BackupStorage{PVC: &v2beta1.BackupPVC{ClaimName: "backups", SubPath: "emqx"}}
}

// backup creates a backup and waits for it to finish.
func (w *backupWorld) backup(t *testing.T, name string, s v2beta1.BackupStorage) *v2beta1.EMQXBackup {
	t.Helper()
	create(t, &v2beta1.EMQXBackup{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: v2beta1.EMQXBackupSpec{ClusterName: w.cluster, BackupStorage: s}})
	return waitForBackup(t, w.ns, name)
}

func waitForBackup(t *testing.T, ns, name string) *v2beta1.EMQXBackup {
	t.Helper()
	b := &v2beta1.EMQXBackup{}
	harness.Eventually(t, 60*time.Second, "backup "+name+" finished", func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, b); err != nil {
			return err
		}
		if !b.Finished() {
			return fmt.Errorf("phase %s: %s", b.Status.Phase, b.Status.Message)
		}
		return nil
	})
	return b
}

// checkRanTheJob: the process the runner executed was the Job's container command, unchanged.
func (w *backupWorld) checkRanTheJob(t *testing.T, jobName string) harness.JobRun {
	t.Helper()
	job := &batchv1.Job{}
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: jobName}, job); err != nil {
		t.Fatal(err)
	}
	run, ok := w.runner.Run(jobName)
	c := job.Spec.Template.Spec.Containers[0]
	if !ok || !slices.Equal(run.Command, append(slices.Clone(c.Command), c.Args...)) {
		t.Errorf("ran %v for Job %s, whose container runs %v %v", run.Command, jobName, c.Command, c.Args)
	}
	return run
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestBackupJobsRunTheirCommand: on-demand backups to a PVC and to S3 run the Job the operator
// made, as a process against the simulator: it finds the ready core through the Kubernetes API (as
// the Job's ServiceAccount), exports there, stores the archive verified, deletes the node's copy.
// Every failure (wrong credentials, missing bucket, unreachable store, failing export) ends
// Failed with its reason and leaves no archive.
func TestBackupJobsRunTheirCommand(t *testing.T) {
	w := newBackupWorld(t, "bk")

	pvc := w.backup(t, "to-pvc", w.pvcStorage())
	if pvc.Status.Phase != v2beta1.BackupSucceeded {
		t.Fatalf("PVC backup: %s: %s\n%+v", pvc.Status.Phase, pvc.Status.Message, w.runner.Runs())
	}
	run := w.checkRanTheJob(t, pvc.JobName())
	if run.ExitCode != 0 || !strings.Contains(run.Message, pvc.Status.SHA256) {
		t.Errorf("run = %+v", run)
	}
	archive, err := os.ReadFile(filepath.Join(w.pvcDir, "emqx", pvc.Status.Filename))
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(archive) != pvc.Status.SHA256 || int64(len(archive)) != pvc.Status.Size || pvc.Status.Node != w.node {
		t.Errorf("archive of %d bytes, sha %s; status %+v", len(archive), sha256Hex(archive), pvc.Status)
	}
	for k, v := range w.records {
		if !strings.Contains(string(archive), v) {
			t.Errorf("the archive lacks %s", k)
		}
	}
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	deleted := slices.ContainsFunc(calls, func(c simulator.Call) bool {
		return c.Method == "DELETE" && strings.Contains(c.Path, pvc.Status.Filename) && c.Status == 204
	})
	if !deleted {
		t.Error("the node's copy of the archive was not deleted")
	}

	s3 := w.backup(t, "to-s3", w.s3Storage(w.s3.URL, "emqx", "s3"))
	if s3.Status.Phase != v2beta1.BackupSucceeded || s3.Status.Location != "s3://emqx/prod/"+s3.Status.Filename {
		t.Fatalf("S3 backup: %+v", s3.Status)
	}
	w.checkRanTheJob(t, s3.JobName())
	if obj := w.s3.Object("emqx", "prod/"+s3.Status.Filename); sha256Hex(obj) != s3.Status.SHA256 {
		t.Errorf("object sha %s, status %s", sha256Hex(obj), s3.Status.SHA256)
	}

	closed := s3server.ClosedAddress(t)
	for _, tc := range []struct {
		name    string
		storage v2beta1.BackupStorage
		fault   simulator.Faults
		want    string
	}{
		{"wrong-credentials", w.s3Storage(w.s3.URL, "emqx", "s3-wrong"), simulator.Faults{}, "refused the credentials"},
		{"no-bucket", w.s3Storage(w.s3.URL, "gone", "s3"), simulator.Faults{}, "bucket gone does not exist"},
		{"unreachable", w.s3Storage("http://"+closed, "emqx", "s3"), simulator.Faults{}, "connection refused"},
		{"export-fails", w.pvcStorage(), simulator.Faults{ExportError: true}, "Error processing export"},
	} {
		if err := env.Sim.SetFaults(w.node, tc.fault); err != nil {
			t.Fatal(err)
		}
		b := w.backup(t, tc.name, tc.storage)
		if b.Status.Phase != v2beta1.BackupFailed || !strings.Contains(b.Status.Message, tc.want) {
			t.Errorf("%s: %s: %s, want Failed with %q", tc.name, b.Status.Phase, b.Status.Message, tc.want)
		}
		if run := w.checkRanTheJob(t, b.JobName()); run.ExitCode != 1 {
			t.Errorf("%s: exit code %d, want 1", tc.name, run.ExitCode)
		}
	}
	if err := env.Sim.SetFaults(w.node, simulator.Faults{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(w.pvcDir, "emqx"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{pvc.Status.Filename, pvc.Status.Filename + ".sha256"}; !slices.Equal(names, want) {
		t.Errorf("the PVC holds %v, want only the good archive and its checksum", names)
	}
	if keys := w.s3.Keys("emqx"); len(keys) != 2 {
		t.Errorf("the bucket holds %v, want only the good archive and its checksum", keys)
	}
}

// TestScheduledBackupsKeepTheNewest: a seconds-level schedule runs at least three backups; with
// keepLast 2 the older ones go, their archives deleted by the archive-delete Jobs (run for real),
// and exactly two backups and two archives stay.
func TestScheduledBackupsKeepTheNewest(t *testing.T) {
	w := newBackupWorld(t, "sched")
	create(t, &v2beta1.EMQXBackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "often"},
		Spec: v2beta1.EMQXBackupScheduleSpec{Schedule: "@every 4s",
			Template:  v2beta1.EMQXBackupTemplate{ClusterName: w.cluster, BackupStorage: w.pvcStorage()},
			Retention: &v2beta1.BackupRetention{KeepLast: ptr.To[int32](2)}}})
	archives := func() []string {
		entries, _ := os.ReadDir(filepath.Join(w.pvcDir, "emqx"))
		var out []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tar.gz") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	runs := func() (backups, deletes int) {
		for _, run := range w.runner.Runs() {
			switch {
			case strings.HasSuffix(run.Job, "-delete") && run.ExitCode == 0:
				deletes++
			case strings.HasSuffix(run.Job, "-backup") && run.ExitCode == 0:
				backups++
			}
		}
		return backups, deletes
	}
	harness.Eventually(t, 90*time.Second, "three scheduled backups", func() error {
		if backups, _ := runs(); backups < 3 {
			return fmt.Errorf("%d backup runs", backups)
		}
		return nil
	})
	// Stop the schedule, so what is left settles: the run in flight finishes, retention prunes.
	ctx, cancel := harness.Ctx()
	defer cancel()
	s := &v2beta1.EMQXBackupSchedule{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "often"}, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Suspend = true
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	var kept []v2beta1.EMQXBackup
	harness.Eventually(t, 60*time.Second, "two backups and two archives kept", func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		list := &v2beta1.EMQXBackupList{}
		if err := env.Client.List(ctx, list, client.InNamespace(w.ns), client.MatchingLabels{v2beta1.LabelBackupSchedule: "often"}); err != nil {
			return err
		}
		kept = list.Items
		succeeded := 0
		for _, b := range kept {
			if b.Status.Phase == v2beta1.BackupSucceeded && b.DeletionTimestamp.IsZero() {
				succeeded++
			}
		}
		backups, deletes := runs()
		if deletes < 1 || len(kept) != 2 || succeeded != 2 || len(archives()) != 2 {
			return fmt.Errorf("%d backup runs, %d archive deletions; %d backups (%d succeeded), archives %v",
				backups, deletes, len(kept), succeeded, archives())
		}
		return nil
	})
	for _, b := range kept {
		if !slices.Contains(archives(), b.Status.Filename) {
			t.Errorf("kept backup %s has no archive %s (archives %v)", b.Name, b.Status.Filename, archives())
		}
	}
	if len(eventsWithReason(t, w.ns, "Pruned")) == 0 || len(eventsWithReason(t, w.ns, "ArchiveDeleted")) == 0 {
		t.Error("no Pruned or ArchiveDeleted events")
	}
}

// TestRestoreIntoAFreshCluster: a new cluster with spec.restoreFrom imports a backup of another
// cluster before it turns Ready: its data then equals what was exported. The archive (an EMQX
// release that still exports API keys) carries the source cluster's operator key; the new
// cluster's own key is named differently, so the operator keeps control and the status keeps
// updating after the import.
func TestRestoreIntoAFreshCluster(t *testing.T) {
	w := newBackupWorld(t, "src")
	b := w.backup(t, "src-1", w.pvcStorage())
	if b.Status.Phase != v2beta1.BackupSucceeded {
		t.Fatalf("backup: %+v", b.Status)
	}
	src, err := env.Sim.Data(w.node)
	if err != nil {
		t.Fatal(err)
	}

	dst := coreReplicantCluster(w.ns, "dst", 1, 1)
	dst.Spec.RestoreFrom = &v2beta1.RestoreFrom{BackupName: b.Name}
	create(t, dst)
	got := env.WaitForCondition(t, w.ns, "dst", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	if got.Status.Restore == nil || got.Status.Restore.Phase != v2beta1.BackupSucceeded {
		t.Fatalf("status.restore = %+v", got.Status.Restore)
	}
	rs := &v2beta1.EMQXRestore{}
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: dst.InitialRestoreName()}, rs); err != nil {
		t.Fatal(err)
	}
	run := w.checkRanTheJob(t, rs.JobName())
	if run.ExitCode != 0 || rs.Status.SHA256 != b.Status.SHA256 || rs.Status.CompletionTime == nil {
		t.Errorf("restore run %+v, status %+v", run, rs.Status)
	}
	// The cluster turned Ready after the import: the operator's calls worked on the imported data.
	ready := meta.FindStatusCondition(got.Status.Conditions, v2beta1.Ready)
	if ready.LastTransitionTime.Before(rs.Status.CompletionTime) {
		t.Errorf("Ready since %v, before the import finished at %v", ready.LastTransitionTime, rs.Status.CompletionTime)
	}

	dstData, err := env.Sim.Data(nodeOf(w.ns, "dst", "dst-core-0"))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(dstData.Records, src.Records) {
		t.Errorf("records after import %v, exported %v", dstData.Records, src.Records)
	}
	foreign := slices.ContainsFunc(dstData.APIKeys, func(k string) bool { return slices.Contains(src.APIKeys, k) })
	if !foreign || len(dstData.APIKeys) <= len(src.APIKeys) {
		t.Errorf("keys after import %v, source keys %v: the archive should have brought the source's keys along", dstData.APIKeys, src.APIKeys)
	}

	// Status still follows the cluster: a scale-in of the replicants shows up.
	update(t, w.ns, "dst", func(e *v2beta1.EMQX) { e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To[int32](0) })
	harness.Eventually(t, 60*time.Second, "status after scaling in", func() error {
		e := env.GetEMQX(t, w.ns, "dst")
		if len(e.Status.ReplicantNodes) != 0 || !meta.IsStatusConditionTrue(e.Status.Conditions, v2beta1.Ready) {
			return fmt.Errorf("replicants %v, ready nodes %s", e.Status.ReplicantNodes, e.Status.ReadyNodes)
		}
		return nil
	})
}

// TestDeletingAClusterKeepsItsBackups: backups are not owned by their cluster; deleting the
// cluster leaves the EMQXBackup and its archive.
func TestDeletingAClusterKeepsItsBackups(t *testing.T) {
	w := newBackupWorld(t, "gone")
	b := w.backup(t, "last", w.pvcStorage())
	if b.Status.Phase != v2beta1.BackupSucceeded {
		t.Fatalf("backup: %+v", b.Status)
	}
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Delete(ctx, &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: w.cluster}}); err != nil {
		t.Fatal(err)
	}
	// Wait for the garbage collector to have taken what the cluster owned: had the backup been
	// owned by it, it would be gone by then too.
	harness.Eventually(t, 30*time.Second, "the cluster's StatefulSet collected", func() error {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.cluster + "-core"}, &appsv1.StatefulSet{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("StatefulSet %s-core still there (%v)", w.cluster, err)
		}
		return nil
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: b.Name}, &v2beta1.EMQXBackup{}); err != nil {
		t.Errorf("the backup went with its cluster: %v", err)
	}
	if _, err := os.Stat(filepath.Join(w.pvcDir, "emqx", b.Status.Filename)); err != nil {
		t.Errorf("the archive went with its cluster: %v", err)
	}
}
