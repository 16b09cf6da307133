package backup

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// fakeClock is a settable clock for the schedule reconciler.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func reconcileSchedule(t *testing.T, r *EMQXBackupScheduleReconciler, ns, name string) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

func scheduleBackups(t *testing.T, ns, schedule string) []v2beta1.EMQXBackup {
	t.Helper()
	list := &v2beta1.EMQXBackupList{}
	if err := directAPI.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{v2beta1.LabelBackupSchedule: schedule}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// markBackup ends a backup as the backup controller would (this test runs no backup controller).
func markBackup(t *testing.T, ns, name, phase string) {
	t.Helper()
	b := getBackup(t, ns, name)
	b.Status.Phase = phase
	b.Status.CompletionTime = ptr.To(metav1.Now())
	if err := directAPI.Status().Update(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, b)
}

// TestScheduleRunsRetainsAndRunsNow: runs start when due, one at a time (a run while the previous
// backup is unfinished is skipped), with deterministic names; retention deletes the oldest
// succeeded backups beyond keepLast (archivePolicy Delete, so their archives go too); the run-now
// annotation starts one backup per value; suspend stops scheduled runs but not run-now.
func TestScheduleRunsRetainsAndRunsNow(t *testing.T) {
	ns := newNamespace(t, nil)
	s := &v2beta1.EMQXBackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec: v2beta1.EMQXBackupScheduleSpec{Schedule: "@every 10s",
			Template:  v2beta1.EMQXBackupTemplate{ClusterName: "c", BackupStorage: v2beta1.BackupStorage{PVC: &v2beta1.BackupPVC{ClaimName: "backups"}}},
			Retention: &v2beta1.BackupRetention{KeepLast: ptr.To[int32](2)}}}
	create(t, s)
	waitForCache(t, s)
	clock := &fakeClock{now: s.CreationTimestamp.Add(5 * time.Second)}
	r := &EMQXBackupScheduleReconciler{Client: mgrClient, Recorder: recorder, Now: clock.Now}

	if res := reconcileSchedule(t, r, ns, s.Name); res.RequeueAfter < 4*time.Second || res.RequeueAfter > 6*time.Second {
		t.Errorf("requeue after %v, want about 5s (the first run)", res.RequeueAfter)
	}
	if got := scheduleBackups(t, ns, s.Name); len(got) != 0 {
		t.Fatalf("a backup before the first run: %v", got)
	}
	runs := 0
	run := func() string {
		t.Helper()
		clock.now = clock.now.Add(10 * time.Second)
		waitForCache(t, getSchedule(t, ns, s.Name))
		reconcileSchedule(t, r, ns, s.Name)
		runs++
		return getSchedule(t, ns, s.Name).Status.LastBackupName
	}
	first := run()
	b := getBackup(t, ns, first)
	if !strings.HasPrefix(first, "nightly-") || b.Spec.ArchivePolicy != v2beta1.ArchiveDelete || len(b.Finalizers) != 1 ||
		b.Labels[v2beta1.LabelBackupOf] != "c" || b.Spec.PVC == nil {
		t.Errorf("scheduled backup = %+v", b)
	}
	waitForCache(t, b)
	if second := run(); second != first || len(scheduleBackups(t, ns, s.Name)) != 1 {
		t.Errorf("a run while %s is unfinished was not skipped (last %s)", first, second)
	}
	waitForEvent(t, ns, "Skipped", first+" has not finished")

	markBackup(t, ns, first, v2beta1.BackupSucceeded)
	names := []string{first}
	for len(names) < 3 {
		name := run()
		if name == names[len(names)-1] {
			t.Fatalf("run %d started no backup", runs)
		}
		names = append(names, name)
		waitForCache(t, getBackup(t, ns, name))
		markBackup(t, ns, name, v2beta1.BackupSucceeded)
	}
	waitForCache(t, getSchedule(t, ns, s.Name))
	reconcileSchedule(t, r, ns, s.Name)
	// The oldest is on its way out: its finalizer waits for the archive's deletion.
	oldest := getBackup(t, ns, names[0])
	if oldest.DeletionTimestamp.IsZero() {
		t.Errorf("retention kept %s of %v", names[0], names)
	}
	for _, n := range names[1:] {
		if !getBackup(t, ns, n).DeletionTimestamp.IsZero() {
			t.Errorf("retention deleted %s, one of the two newest", n)
		}
	}
	if st := getSchedule(t, ns, s.Name).Status; st.LastSuccessfulTime == nil || st.NextScheduleTime == nil {
		t.Errorf("status = %+v", st)
	}

	// Suspended: no more runs; run-now still starts one, once per value.
	live := getSchedule(t, ns, s.Name)
	live.Spec.Suspend = true
	live.Annotations = map[string]string{v2beta1.RunNowAnnotation: "1"}
	if err := directAPI.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	before := len(scheduleBackups(t, ns, s.Name))
	run()
	run()
	st := getSchedule(t, ns, s.Name).Status
	if got := len(scheduleBackups(t, ns, s.Name)); got != before+1 || st.LastRunNow != "1" || !strings.HasPrefix(st.LastBackupName, "nightly-now-") ||
		st.NextScheduleTime != nil {
		t.Errorf("suspended with run-now: %d backups (had %d), status %+v", got, before, st)
	}
}

// TestInvalidScheduleIsReported: a schedule that does not parse sets ScheduleValid=False with an
// Event, and starts nothing.
func TestInvalidScheduleIsReported(t *testing.T) {
	ns := newNamespace(t, nil)
	s := &v2beta1.EMQXBackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
		Spec: v2beta1.EMQXBackupScheduleSpec{Schedule: "every night",
			Template: v2beta1.EMQXBackupTemplate{ClusterName: "c", BackupStorage: v2beta1.BackupStorage{PVC: &v2beta1.BackupPVC{ClaimName: "backups"}}}}}
	create(t, s)
	waitForCache(t, s)
	clock := &fakeClock{now: s.CreationTimestamp.Add(time.Hour)}
	r := &EMQXBackupScheduleReconciler{Client: mgrClient, Recorder: recorder, Now: clock.Now}
	if res := reconcileSchedule(t, r, ns, s.Name); res.RequeueAfter != 0 {
		t.Errorf("an invalid schedule is retried (%v): only a spec change can fix it", res.RequeueAfter)
	}
	c := meta.FindStatusCondition(getSchedule(t, ns, s.Name).Status.Conditions, v2beta1.ScheduleValid)
	if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `"every night"`) {
		t.Errorf("condition = %+v", c)
	}
	waitForEvent(t, ns, "InvalidSchedule", "every night")
	if got := scheduleBackups(t, ns, s.Name); len(got) != 0 {
		t.Errorf("an invalid schedule started %d backups", len(got))
	}
}

func getSchedule(t *testing.T, ns, name string) *v2beta1.EMQXBackupSchedule {
	t.Helper()
	s := &v2beta1.EMQXBackupSchedule{}
	get(t, ns, name, s)
	return s
}
