package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// Helpers shared by the backup and restore controllers: their Jobs run the operator's image,
// once, and report a JSON result in the container's termination message.

// reportGrace is how long after its Job ended a backup or restore waits for the pod's report:
// the Job's end and its pod's termination message are two watch events, and the pod's may come
// second.
const reportGrace = 30 * time.Second

// jobPodLabel is the label the Job controller puts on a Job's pods: the Job's UID, not its name,
// because a retried archive deletion makes a new Job under the old name while the old Job's pods
// (with their failed report) may still be waiting for the garbage collector.
const jobPodLabel = "batch.kubernetes.io/controller-uid"

// readReport unmarshals the JSON report from the termination message of the Job's pod into out;
// found is false when there is none (yet). An unreadable report is an error the caller shows.
func readReport(ctx context.Context, c client.Client, job *batchv1.Job, out any) (found bool, err error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{jobPodLabel: string(job.UID)}); err != nil {
		return false, err
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.Message != "" {
				if err := json.Unmarshal([]byte(t.Message), out); err != nil {
					return true, fmt.Errorf("unreadable report of Job %s: %q", job.Name, t.Message)
				}
				return true, nil
			}
		}
	}
	return false, nil
}

// jobOutcome is a finished Job's result, or why there is none yet.
type jobOutcome struct {
	// Finished: the Job ended and its report is in (or will not come).
	Finished  bool
	Succeeded bool
	// Failure is why it failed (the report's error, or the Job's condition).
	Failure string
	// RecheckAfter is set while the report of an ended Job is awaited.
	RecheckAfter time.Duration
}

// followJob reads a Job's end: report must be a pointer to the command's report type, whose
// error field reportError returns.
func followJob(ctx context.Context, c client.Client, job *batchv1.Job, report any, reportError func() string) (jobOutcome, error) {
	if !jobFinished(job) {
		return jobOutcome{}, nil
	}
	found, err := readReport(ctx, c, job, report)
	if err != nil && !found {
		return jobOutcome{}, err
	}
	if err != nil {
		return jobOutcome{Finished: true, Failure: err.Error()}, nil
	}
	if !found && time.Since(jobEnded(job)) < reportGrace {
		return jobOutcome{RecheckAfter: 2 * time.Second}, nil
	}
	if jobSucceeded(job) && found && reportError() == "" {
		return jobOutcome{Finished: true, Succeeded: true}, nil
	}
	why := "the Job " + job.Name + " failed without a report"
	switch {
	case found && reportError() != "":
		why = reportError()
	case jobCondition(job, batchv1.JobFailed) != nil:
		why = "the Job " + job.Name + " failed: " + jobCondition(job, batchv1.JobFailed).Message
	}
	return jobOutcome{Finished: true, Failure: why}, nil
}

// getJob reads a Job (nil when it does not exist).
func getJob(ctx context.Context, c client.Client, ns, name string) (*batchv1.Job, error) {
	job := &batchv1.Job{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return job, err
}

// jobEnded is when the Job got its final condition.
func jobEnded(j *batchv1.Job) time.Time {
	for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed} {
		if c := jobCondition(j, t); c != nil {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func jobSucceeded(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobComplete) != nil }

func jobFinished(j *batchv1.Job) bool {
	return jobSucceeded(j) || jobCondition(j, batchv1.JobFailed) != nil
}

// storageProblem says why a Job could not use the storage yet ("" when it can): the PVC or the S3
// credentials Secret must exist, or the Job's pod would wait for ever. Read uncached: neither is
// the operator's, so neither is in its cache.
func storageProblem(ctx context.Context, r client.Reader, ns string, s v2beta1.BackupStorage) (string, error) {
	switch {
	case s.PVC != nil:
		pvc := &corev1.PersistentVolumeClaim{}
		err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.PVC.ClaimName}, pvc)
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("PersistentVolumeClaim %s not found in namespace %s", s.PVC.ClaimName, ns), nil
		}
		return "", err
	case s.S3 != nil:
		sec := &corev1.Secret{}
		err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.S3.CredentialsSecretName}, sec)
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("S3 credentials Secret %s not found in namespace %s", s.S3.CredentialsSecretName, ns), nil
		}
		if err != nil {
			return "", err
		}
		for _, k := range []string{v2beta1.S3AccessKeyIDKey, v2beta1.S3SecretAccessKeyKey} {
			if len(sec.Data[k]) == 0 {
				return fmt.Sprintf("S3 credentials Secret %s has no key %s", s.S3.CredentialsSecretName, k), nil
			}
		}
	}
	return "", nil
}

// reasonJobRunning: a backup, restore or archive deletion Job has not ended (or its report is
// awaited); the Job watch, or the recheck of a report, wakes the reconciler.
const reasonJobRunning = "JobRunning"

// waitRun keeps a run Pending, saying why; a new reason is announced once as an Event.
func waitRun(rec events.EventRecorder, obj runtime.Object, s *v2beta1.RunStatus, action, why string) (pipeline.Outcome, error) {
	if s.Phase != v2beta1.BackupPending || s.Message != why {
		rec.Eventf(obj, nil, corev1.EventTypeNormal, "Waiting", action, "%s", why)
	}
	s.Phase, s.Message = v2beta1.BackupPending, why
	return pipeline.WaitFor(pipeline.ArchiveRetry, "Waiting"), nil
}

// startRun records that the run's Job exists (also when it was made by an earlier pass).
func startRun(s *v2beta1.RunStatus, job *batchv1.Job) {
	if s.Phase == v2beta1.BackupRunning {
		return
	}
	s.Phase, s.JobName = v2beta1.BackupRunning, job.Name
	if s.StartTime == nil {
		s.StartTime = job.CreationTimestamp.DeepCopy()
	}
}

// finishRun ends a run for good, with one Event (a Warning when it failed).
func finishRun(rec events.EventRecorder, obj runtime.Object, s *v2beta1.RunStatus, action, phase, msg string) {
	now := metav1.Now()
	s.Phase, s.Message, s.CompletionTime = phase, msg, &now
	kind := corev1.EventTypeNormal
	if phase == v2beta1.BackupFailed {
		kind = corev1.EventTypeWarning
	}
	rec.Eventf(obj, nil, kind, phase, action, "%s", msg)
}

// otherActiveJob names a backup, restore or archive-delete Job of the cluster, other than own,
// that has not finished ("" if none). Read uncached: a Job created a moment ago must count.
func otherActiveJob(ctx context.Context, r client.Reader, ns, cluster, own string) (string, error) {
	jobs := &batchv1.JobList{}
	if err := r.List(ctx, jobs, client.InNamespace(ns),
		client.MatchingLabels{v2beta1.LabelManagedBy: v2beta1.ManagedByValue, v2beta1.LabelBackupOf: cluster}); err != nil {
		return "", err
	}
	for _, j := range jobs.Items {
		if j.Name != own && !jobFinished(&j) {
			return j.Name, nil
		}
	}
	return "", nil
}

// createOwnedJob creates a run-once Job owned by the resource it runs for; one that exists already
// (made by an earlier pass whose status write was lost) is that same run.
func createOwnedJob(ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, job *batchv1.Job) error {
	if err := controllerutil.SetControllerReference(owner, job, scheme); err != nil {
		return err
	}
	if err := c.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Job %s: %w", job.Name, err)
	}
	return nil
}
