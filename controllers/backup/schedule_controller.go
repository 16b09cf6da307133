package backup

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/schedule"
)

// EMQXBackupScheduleReconciler creates a schedule's EMQXBackups when runs are due (or asked for
// with the run-now annotation) and deletes the ones its retention lets go.
type EMQXBackupScheduleReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Now is the clock (time.Now in production).
	Now func() time.Time
}

// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxbackupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxbackupschedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxbackups,verbs=create;delete

// Reconcile runs what is due and applies the retention.
func (r *EMQXBackupScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s := &v2beta1.EMQXBackupSchedule{}
	if err := r.Client.Get(ctx, req.NamespacedName, s); err != nil || !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	next := s.Status.DeepCopy()
	out, err := r.step(ctx, s, next)
	next.ObservedGeneration = s.Generation
	updated := s.DeepCopy()
	updated.Status = *next
	wout, werr := pipeline.PatchStatus(ctx, r.Client, s, updated)
	out, err = pipeline.AfterStatusWrite(out, err, wout, werr)
	return out.Result(), err
}

func (r *EMQXBackupScheduleReconciler) step(ctx context.Context, s *v2beta1.EMQXBackupSchedule, next *v2beta1.EMQXBackupScheduleStatus) (pipeline.Outcome, error) {
	now := r.Now()
	sched, perr := schedule.Parse(s.Spec.Schedule)
	if perr != nil {
		// A spec error: nothing runs until the schedule is fixed (a spec change reconciles again).
		if c := meta.FindStatusCondition(next.Conditions, v2beta1.ScheduleValid); c == nil || c.Status != metav1.ConditionFalse || c.Message != perr.Error() {
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, "InvalidSchedule", "Schedule", "%s", perr.Error())
		}
		r.setValid(s, next, false, "InvalidSchedule", perr.Error()+`; use five cron fields ("0 3 * * *") or a descriptor (@daily, @every 6h)`)
		next.NextScheduleTime = nil
		return pipeline.Converged(0), nil
	}
	r.setValid(s, next, true, "Parsed", "the schedule parses")

	backups, err := r.backupsOf(ctx, s)
	if err != nil {
		return pipeline.Converged(0), err
	}
	if v := s.Annotations[v2beta1.RunNowAnnotation]; v != "" && v != next.LastRunNow {
		name := fmt.Sprintf("%s-now-%08x", s.Name, fnv32(v))
		if err := r.createBackup(ctx, s, name); err != nil {
			return pipeline.Converged(0), err
		}
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "RunNow", "Backup", "backup %s started (%s=%s)", name, v2beta1.RunNowAnnotation, v)
		next.LastRunNow, next.LastBackupName = v, name
	}

	requeue := time.Duration(0)
	if s.Spec.Suspend {
		next.NextScheduleTime = nil
	} else {
		last := s.CreationTimestamp.Time
		if next.LastScheduleTime != nil {
			last = next.LastScheduleTime.Time
		}
		due, upcoming := schedule.Due(sched, last, now)
		if due != nil {
			if err := r.run(ctx, s, next, backups, *due); err != nil {
				return pipeline.Converged(0), err
			}
		}
		next.NextScheduleTime = &metav1.Time{Time: upcoming}
		// No watch fires when a run is due: come back at that time.
		requeue = max(upcoming.Sub(now)+50*time.Millisecond, 50*time.Millisecond)
	}

	for _, name := range schedule.Expired(backups, s.Spec.Retention, now) {
		b := &v2beta1.EMQXBackup{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: name}}
		if err := r.Client.Delete(ctx, b); client.IgnoreNotFound(err) != nil {
			return pipeline.Converged(0), err
		}
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "Pruned", "Retention", "deleted backup %s and its archive (retention)", name)
	}
	next.LastSuccessfulTime = schedule.LastSucceeded(backups)
	return pipeline.Converged(requeue), nil
}

// run starts the backup of a due run, unless the schedule's previous backup has not finished:
// then this run is skipped (a backup that outlasts its interval would otherwise pile up behind).
func (r *EMQXBackupScheduleReconciler) run(ctx context.Context, s *v2beta1.EMQXBackupSchedule, next *v2beta1.EMQXBackupScheduleStatus,
	backups []v2beta1.EMQXBackup, due time.Time) error {
	next.LastScheduleTime = &metav1.Time{Time: due}
	if i := slices.IndexFunc(backups, func(b v2beta1.EMQXBackup) bool { return !b.Finished() && b.DeletionTimestamp.IsZero() }); i >= 0 {
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "Skipped", "Backup", "run of %s skipped: backup %s has not finished",
			due.UTC().Format(time.RFC3339), backups[i].Name)
		return nil
	}
	name := fmt.Sprintf("%s-%d", s.Name, due.Unix())
	if err := r.createBackup(ctx, s, name); err != nil {
		return err
	}
	r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "Scheduled", "Backup", "backup %s started for the run of %s", name, due.UTC().Format(time.RFC3339))
	next.LastBackupName = name
	return nil
}

// createBackup makes one of the schedule's backups. Its name is fixed by the run, so a retried
// reconcile finds it instead of making a second one. Backups are not owned by the schedule:
// deleting a schedule keeps its backups and their archives.
func (r *EMQXBackupScheduleReconciler) createBackup(ctx context.Context, s *v2beta1.EMQXBackupSchedule, name string) error {
	b := &v2beta1.EMQXBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: name, Labels: map[string]string{
			v2beta1.LabelBackupSchedule: s.Name, v2beta1.LabelBackupOf: s.Spec.Template.ClusterName}},
		Spec: v2beta1.EMQXBackupSpec{ClusterName: s.Spec.Template.ClusterName, BackupStorage: s.Spec.Template.BackupStorage,
			ArchivePolicy: v2beta1.ArchiveRetain},
	}
	if s.Spec.Retention != nil {
		// Retention must free the storage too: the archive goes with the backup.
		b.Spec.ArchivePolicy = v2beta1.ArchiveDelete
		b.Finalizers = []string{v2beta1.ArchiveFinalizer}
	}
	if err := r.Client.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating backup %s: %w", name, err)
	}
	return nil
}

func (r *EMQXBackupScheduleReconciler) backupsOf(ctx context.Context, s *v2beta1.EMQXBackupSchedule) ([]v2beta1.EMQXBackup, error) {
	list := &v2beta1.EMQXBackupList{}
	if err := r.Client.List(ctx, list, client.InNamespace(s.Namespace), client.MatchingLabels{v2beta1.LabelBackupSchedule: s.Name}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (r *EMQXBackupScheduleReconciler) setValid(s *v2beta1.EMQXBackupSchedule, next *v2beta1.EMQXBackupScheduleStatus, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&next.Conditions, metav1.Condition{Type: v2beta1.ScheduleValid, Status: st, Reason: reason,
		Message: msg, ObservedGeneration: s.Generation})
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// SetupWithManager watches schedules and, by label, their backups (a finished backup may let
// retention delete an older one).
func (r *EMQXBackupScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v2beta1.EMQXBackupSchedule{}).
		Watches(&v2beta1.EMQXBackup{}, handler.EnqueueRequestsFromMapFunc(backupToSchedule)).
		Complete(r)
}

func backupToSchedule(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := o.GetLabels()[v2beta1.LabelBackupSchedule]
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
}
