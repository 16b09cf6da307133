package backup

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/backup"
	"github.com/broker-ops/emqx-operator/internal/desired"
)

// deleting handles a backup on its way out. Only archivePolicy Delete holds it (the finalizer):
// a backup still running finishes first, so its archive is known; an archive that was stored is
// deleted by a Job with the storage mounted; then the finalizer goes.
func (r *EMQXBackupReconciler) deleting(ctx context.Context, b *v2beta1.EMQXBackup, next *v2beta1.EMQXBackupStatus) (pipeline.Outcome, error) {
	if !controllerutil.ContainsFinalizer(b, v2beta1.ArchiveFinalizer) {
		return pipeline.Converged(0), nil
	}
	if next.Phase == v2beta1.BackupRunning {
		job, err := getJob(ctx, r.Client, b.Namespace, b.JobName())
		if err != nil || job != nil {
			if err == nil {
				return r.follow(ctx, b, job, next)
			}
			return pipeline.Converged(0), err
		}
		r.finish(b, next, v2beta1.BackupFailed, "the backup Job "+b.JobName()+" was deleted before it finished")
	}
	// Pending and Failed backups stored nothing (a failed backup leaves no archive behind).
	if next.Phase != v2beta1.BackupSucceeded || next.Filename == "" {
		return pipeline.Converged(0), r.dropFinalizer(ctx, b)
	}

	job, err := getJob(ctx, r.Client, b.Namespace, b.DeleteJobName())
	if err != nil {
		return pipeline.Converged(0), err
	}
	if job == nil {
		job = desired.ArchiveDeleteJob(b, r.Image)
		if err := createOwnedJob(ctx, r.Client, r.Scheme, b, job); err != nil {
			return pipeline.Converged(0), err
		}
		r.Recorder.Eventf(b, job, corev1.EventTypeNormal, "DeletingArchive", "Delete", "deleting %s (archivePolicy Delete)", next.Location)
		return pipeline.Converged(0), nil
	}
	report := &backup.Report{}
	out, err := followJob(ctx, r.Client, job, report, func() string { return report.Error })
	if err != nil || !out.Finished {
		return pipeline.WaitFor(out.RecheckAfter, reasonJobRunning), err
	}
	if !out.Succeeded {
		// The archive may still be there: keep the backup (and its finalizer) and try again with
		// a new Job, rather than forget an archive nobody would delete.
		next.Message = "deleting the archive failed, retrying: " + out.Failure
		r.Recorder.Eventf(b, job, corev1.EventTypeWarning, "ArchiveDeleteFailed", "Delete", "%s", out.Failure)
		if err := r.Client.Delete(ctx, job, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
			return pipeline.Converged(0), err
		}
		return pipeline.WaitFor(pipeline.ArchiveDeleteRetry, "ArchiveDeleteFailed"), nil
	}
	r.Recorder.Eventf(b, job, corev1.EventTypeNormal, "ArchiveDeleted", "Delete", "deleted %s", next.Location)
	return pipeline.Converged(0), r.dropFinalizer(ctx, b)
}

func (r *EMQXBackupReconciler) dropFinalizer(ctx context.Context, b *v2beta1.EMQXBackup) error {
	patch := client.MergeFrom(b.DeepCopy())
	controllerutil.RemoveFinalizer(b, v2beta1.ArchiveFinalizer)
	return client.IgnoreNotFound(r.Client.Patch(ctx, b, patch))
}
