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

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/backup"
	"github.com/broker-ops/emqx-operator/internal/desired"
)

// EMQXRestoreReconciler runs each EMQXRestore once, as a Job.
type EMQXRestoreReconciler struct {
	Client client.Client
	// APIReader reads uncached: the cluster's Jobs right before an import starts, and the user's
	// PVC or S3 Secret.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Image is the operator's own image, which the restore Jobs run.
	Image string
}

// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxrestores,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxrestores/status,verbs=get;update;patch

// Reconcile moves one restore on: wait for the archive and the cluster's cores, start the Job,
// follow it to the end. A finished restore is never started again.
func (r *EMQXRestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rs := &v2beta1.EMQXRestore{}
	if err := r.Client.Get(ctx, req.NamespacedName, rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// An import must not run twice by accident: a finished restore is final, whatever happens
	// to its Job.
	if rs.Finished() || !rs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	next := rs.Status.DeepCopy()
	out, err := r.step(ctx, rs, next)
	updated := rs.DeepCopy()
	updated.Status = *next
	wout, werr := pipeline.PatchStatus(ctx, r.Client, rs, updated)
	out, err = pipeline.AfterStatusWrite(out, err, wout, werr)
	return out.Result(), err
}

// source is the archive a restore imports.
type source struct {
	storage   v2beta1.BackupStorage
	file, sha string
}

func (r *EMQXRestoreReconciler) step(ctx context.Context, rs *v2beta1.EMQXRestore, next *v2beta1.EMQXRestoreStatus) (pipeline.Outcome, error) {
	job, err := getJob(ctx, r.Client, rs.Namespace, rs.JobName())
	if err != nil {
		return pipeline.Converged(0), err
	}
	if job != nil {
		return r.follow(ctx, rs, job, next)
	}
	if next.Phase == v2beta1.BackupRunning {
		// The Job is gone before it reported: whether EMQX imported is unknown, so this restore
		// ends Failed rather than import again.
		r.finish(rs, next, v2beta1.BackupFailed, "the restore Job "+rs.JobName()+" was deleted before it finished; check the cluster's data before restoring again")
		return pipeline.Converged(0), nil
	}

	src, why, err := r.source(ctx, rs)
	if err != nil {
		return pipeline.Converged(0), err
	}
	if why != "" {
		if src == nil {
			r.finish(rs, next, v2beta1.BackupFailed, why)
			return pipeline.Converged(0), nil
		}
		return r.wait(rs, next, why)
	}
	e := &v2beta1.EMQX{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.ClusterName}, e); apierrors.IsNotFound(err) {
		return r.wait(rs, next, fmt.Sprintf("EMQX cluster %s not found in namespace %s", rs.Spec.ClusterName, rs.Namespace))
	} else if err != nil {
		return pipeline.Converged(0), err
	}
	// Imports run on a core, and every core must have joined so that the imported tables reach
	// all of them. Not the cluster's Ready: a new cluster restoring its first data is not Ready
	// until this restore has run.
	if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.CoreNodesReady); c == nil || c.Status != metav1.ConditionTrue {
		return r.wait(rs, next, fmt.Sprintf("waiting for the core nodes of EMQX cluster %s to join", e.Name))
	}
	if why, err := storageProblem(ctx, r.APIReader, rs.Namespace, src.storage); err != nil {
		return pipeline.Converged(0), err
	} else if why != "" {
		return r.wait(rs, next, why)
	}
	// No import while a backup or another restore of the cluster runs: an export taken during an
	// import would hold half of it.
	if other, err := otherActiveJob(ctx, r.APIReader, e.Namespace, e.Name, rs.JobName()); err != nil {
		return pipeline.Converged(0), err
	} else if other != "" {
		return r.wait(rs, next, fmt.Sprintf("waiting for Job %s of cluster %s to finish", other, e.Name))
	}

	applier := &apply.Applier{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	if _, err := applier.Apply(ctx, e, desired.BackupAccess(e)); err != nil {
		return pipeline.Converged(0), err
	}
	job = desired.RestoreJob(rs, e, src.storage, src.file, src.sha, r.Image)
	if err := createOwnedJob(ctx, r.Client, r.Scheme, rs, job); err != nil {
		return pipeline.Converged(0), err
	}
	now := metav1.Now()
	next.Phase, next.JobName, next.StartTime, next.Filename = v2beta1.BackupRunning, job.Name, &now, src.file
	next.Message = "restore Job " + job.Name + " started"
	r.Recorder.Eventf(rs, job, corev1.EventTypeNormal, "Started", "Restore", "restore Job %s started: importing %s into cluster %s", job.Name, src.file, e.Name)
	return pipeline.Converged(0), nil
}

// source resolves the archive. why says what is missing: with a nil source the restore cannot
// ever run (the backup failed); with a source it may later (the backup is still running).
func (r *EMQXRestoreReconciler) source(ctx context.Context, rs *v2beta1.EMQXRestore) (*source, string, error) {
	if rs.Spec.BackupName == "" {
		return &source{storage: rs.Spec.BackupStorage, file: rs.Spec.Filename, sha: rs.Spec.SHA256}, "", nil
	}
	b := &v2beta1.EMQXBackup{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.BackupName}, b)
	switch {
	case apierrors.IsNotFound(err):
		return &source{}, fmt.Sprintf("EMQXBackup %s not found in namespace %s", rs.Spec.BackupName, rs.Namespace), nil
	case err != nil:
		return nil, "", err
	case b.Status.Phase == v2beta1.BackupFailed:
		return nil, fmt.Sprintf("EMQXBackup %s failed, so there is no archive to restore: %s", b.Name, b.Status.Message), nil
	case b.Status.Phase != v2beta1.BackupSucceeded:
		return &source{}, fmt.Sprintf("waiting for EMQXBackup %s to succeed", b.Name), nil
	}
	return &source{storage: b.Spec.BackupStorage, file: b.Status.Filename, sha: b.Status.SHA256}, "", nil
}

func (r *EMQXRestoreReconciler) wait(rs *v2beta1.EMQXRestore, next *v2beta1.EMQXRestoreStatus, why string) (pipeline.Outcome, error) {
	return waitRun(r.Recorder, rs, &next.RunStatus, "Restore", why)
}

func (r *EMQXRestoreReconciler) follow(ctx context.Context, rs *v2beta1.EMQXRestore, job *batchv1.Job, next *v2beta1.EMQXRestoreStatus) (pipeline.Outcome, error) {
	startRun(&next.RunStatus, job)
	report := &backup.RestoreReport{}
	out, err := followJob(ctx, r.Client, job, report, func() string { return report.Error })
	if err != nil || !out.Finished {
		return pipeline.WaitFor(out.RecheckAfter, reasonJobRunning), err
	}
	if !out.Succeeded {
		r.finish(rs, next, v2beta1.BackupFailed, out.Failure)
		return pipeline.Converged(0), nil
	}
	next.Node, next.Filename, next.SHA256 = report.Node, report.Filename, report.SHA256
	msg := fmt.Sprintf("imported %s (%d bytes) on %s", report.Filename, report.Size, report.Node)
	if report.Warning != "" {
		msg += "; " + report.Warning
	}
	r.finish(rs, next, v2beta1.BackupSucceeded, msg)
	return pipeline.Converged(0), nil
}

func (r *EMQXRestoreReconciler) finish(rs *v2beta1.EMQXRestore, next *v2beta1.EMQXRestoreStatus, phase, msg string) {
	finishRun(r.Recorder, rs, &next.RunStatus, "Restore", phase, msg)
}

// SetupWithManager watches restores and the Jobs they own.
func (r *EMQXRestoreReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v2beta1.EMQXRestore{}).
		Owns(&batchv1.Job{}).
		Complete(r)
}
