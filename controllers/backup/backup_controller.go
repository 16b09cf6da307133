package backup

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/backup"
	"github.com/broker-ops/emqx-operator/internal/desired"
)

// EMQXBackupReconciler runs each EMQXBackup once, as a Job, and with archivePolicy Delete
// deletes its archive (another Job) before the backup goes.
type EMQXBackupReconciler struct {
	Client client.Client
	// APIReader reads uncached: the Jobs of a cluster right before a backup starts (the cache may
	// not show a Job created a moment ago, and two backups of one cluster must not overlap), and
	// the user's PVC or S3 Secret (not the operator's, so not cached).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Image is the operator's own image, which the backup Jobs run.
	Image string
}

// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxbackups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxbackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxbackups/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete

// Reconcile moves one backup on: wait for its cluster, start its Job, follow the Job to the end;
// when it is deleted with archivePolicy Delete, delete the archive first.
func (r *EMQXBackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &v2beta1.EMQXBackup{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	next := b.Status.DeepCopy()
	var out pipeline.Outcome
	var err error
	switch {
	case !b.DeletionTimestamp.IsZero():
		out, err = r.deleting(ctx, b, next)
	case b.Finished():
		// A backup runs at most once: a finished one is never started again, whatever happens
		// to its Job (a retry would be a different backup, taken at another time).
		return ctrl.Result{}, nil
	default:
		out, err = r.step(ctx, b, next)
	}
	updated := b.DeepCopy()
	updated.Status = *next
	wout, werr := pipeline.PatchStatus(ctx, r.Client, b, updated)
	out, err = pipeline.AfterStatusWrite(out, err, wout, werr)
	return out.Result(), err
}

func (r *EMQXBackupReconciler) step(ctx context.Context, b *v2beta1.EMQXBackup, next *v2beta1.EMQXBackupStatus) (pipeline.Outcome, error) {
	job, err := getJob(ctx, r.Client, b.Namespace, b.JobName())
	if err != nil {
		return pipeline.Converged(0), err
	}
	if job != nil {
		return r.follow(ctx, b, job, next)
	}
	if next.Phase == v2beta1.BackupRunning {
		// Running, but its Job is gone (deleted by hand): the backup cannot report a result.
		r.finish(b, next, v2beta1.BackupFailed, "the backup Job "+b.JobName()+" was deleted before it finished")
		return pipeline.Converged(0), nil
	}

	e := &v2beta1.EMQX{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Spec.ClusterName}, e); apierrors.IsNotFound(err) {
		return r.wait(b, next, fmt.Sprintf("EMQX cluster %s not found in namespace %s", b.Spec.ClusterName, b.Namespace))
	} else if err != nil {
		return pipeline.Converged(0), err
	}
	// An export from a cluster that is not Ready may miss data (a core that is restarting, a
	// rollout half done): wait until the cluster is Ready again.
	if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.Ready); c == nil || c.Status != metav1.ConditionTrue {
		why := "not Ready yet"
		if c != nil {
			why = c.Message
		}
		return r.wait(b, next, fmt.Sprintf("waiting for EMQX cluster %s to be Ready (%s)", e.Name, why))
	}
	// A Job whose PVC or credentials are missing would sit in Pending: say so here instead.
	if why, err := storageProblem(ctx, r.APIReader, b.Namespace, b.Spec.BackupStorage); err != nil {
		return pipeline.Converged(0), err
	} else if why != "" {
		return r.wait(b, next, why)
	}
	// One backup of a cluster at a time: exports load the core that answers, and two archives
	// taken at once say nothing more than one.
	if other, err := otherActiveJob(ctx, r.APIReader, e.Namespace, e.Name, b.JobName()); err != nil {
		return pipeline.Converged(0), err
	} else if other != "" {
		return r.wait(b, next, fmt.Sprintf("waiting for Job %s of cluster %s to finish", other, e.Name))
	}
	// The finalizer goes on before any archive can exist, so none escapes its archivePolicy.
	if b.Spec.ArchivePolicy == v2beta1.ArchiveDelete && !controllerutil.ContainsFinalizer(b, v2beta1.ArchiveFinalizer) {
		patch := client.MergeFrom(b.DeepCopy())
		controllerutil.AddFinalizer(b, v2beta1.ArchiveFinalizer)
		if err := r.Client.Patch(ctx, b, patch); err != nil {
			return pipeline.Converged(0), err
		}
	}

	applier := &apply.Applier{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	if _, err := applier.Apply(ctx, e, desired.BackupAccess(e)); err != nil {
		return pipeline.Converged(0), err
	}
	job = desired.BackupJob(b, e, r.Image)
	if err := createOwnedJob(ctx, r.Client, r.Scheme, b, job); err != nil {
		return pipeline.Converged(0), err
	}
	now := metav1.Now()
	next.Phase, next.JobName, next.StartTime = v2beta1.BackupRunning, job.Name, &now
	next.Message = "backup Job " + job.Name + " started"
	r.Recorder.Eventf(b, job, corev1.EventTypeNormal, "Started", "Backup", "backup Job %s started for cluster %s", job.Name, e.Name)
	return pipeline.Converged(0), nil
}

// wait keeps the backup Pending, saying why.
func (r *EMQXBackupReconciler) wait(b *v2beta1.EMQXBackup, next *v2beta1.EMQXBackupStatus, why string) (pipeline.Outcome, error) {
	return waitRun(r.Recorder, b, &next.RunStatus, "Backup", why)
}

// follow turns the Job's end into the backup's: the result comes from the backup pod's
// termination message (the JSON report `manager backup` writes).
func (r *EMQXBackupReconciler) follow(ctx context.Context, b *v2beta1.EMQXBackup, job *batchv1.Job, next *v2beta1.EMQXBackupStatus) (pipeline.Outcome, error) {
	startRun(&next.RunStatus, job)
	report := &backup.Report{}
	out, err := followJob(ctx, r.Client, job, report, func() string { return report.Error })
	if err != nil || !out.Finished {
		return pipeline.WaitFor(out.RecheckAfter, reasonJobRunning), err
	}
	if out.Succeeded && (report.Filename == "" || report.SHA256 == "") {
		out.Succeeded, out.Failure = false, "the backup Job succeeded but reported no archive (its termination message was empty)"
	}
	if !out.Succeeded {
		r.finish(b, next, v2beta1.BackupFailed, out.Failure)
		return pipeline.Converged(0), nil
	}
	next.Node, next.Filename, next.Size, next.SHA256, next.Location =
		report.Node, report.Filename, report.Size, report.SHA256, report.Location
	msg := "stored " + report.Location
	if report.Warning != "" {
		msg += "; " + report.Warning
	}
	r.finish(b, next, v2beta1.BackupSucceeded, msg)
	return pipeline.Converged(0), nil
}

func (r *EMQXBackupReconciler) finish(b *v2beta1.EMQXBackup, next *v2beta1.EMQXBackupStatus, phase, msg string) {
	finishRun(r.Recorder, b, &next.RunStatus, "Backup", phase, msg)
}

// SetupWithManager watches backups and the Jobs they own.
func (r *EMQXBackupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v2beta1.EMQXBackup{}).
		Owns(&batchv1.Job{}).
		Complete(r)
}
