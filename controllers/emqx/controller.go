// Package emqx reconciles EMQX resources (apps.emqx.io/v2beta1, EMQX 5 and 6): check the spec, make
// sure the generated credentials exist, observe the cluster, compute the desired objects
// (internal/desired, pure), apply them (internal/apply), take at most one lifecycle step, and write
// the status once.
package emqx

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/controllers/refs"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/olm"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// EMQXReconciler reconciles EMQX resources.
type EMQXReconciler struct {
	// Client reads from the manager's cache (scoped to the operator's own objects) and writes.
	Client client.Client
	// APIReader reads without a cache: the Secrets users reference, and a pod right before its
	// evacuation is ended (the cache may not show its deletion yet).
	APIReader   client.Reader
	Scheme      *runtime.Scheme
	Recorder    events.EventRecorder
	Renderer    *render.Renderer
	EMQXClients emqxapi.Factory
	// Rollouts limits how many clusters scale in or roll at once (nil: no limit).
	Rollouts *pipeline.RolloutLimiter
	// JoinTimeout is how long a Ready node may stay out of the cluster before it is invited.
	JoinTimeout time.Duration
	// Upgrade tells OLM whether an operator upgrade must wait for a rollout (nil outside OLM).
	Upgrade *olm.UpgradeGate
	// ProxyEnv is the proxy environment the operator runs with (operator-lib's proxy package),
	// passed on to EMQX nodes.
	ProxyEnv []corev1.EnvVar
	// ReadyResync is how often a healthy cluster is looked at again (watches.yaml's
	// reconcilePeriod; pipeline.DefaultReadyResync when zero).
	ReadyResync time.Duration

	evacuations evacuationClock
}

// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxes,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete;patch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=operators.coreos.com,resources=operatorconditions,verbs=get;update;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one EMQX cluster one step closer to its spec.
func (r *EMQXReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	current := &v2beta1.EMQX{}
	if err := r.Client.Get(ctx, req.NamespacedName, current); err != nil {
		r.Rollouts.Release(req.String())
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.Upgrade.Observe(ctx, req.String(), "")
		}
		return ctrl.Result{}, err
	}
	if !current.DeletionTimestamp.IsZero() {
		// Owner references hand the children to the garbage collector; PVCs stay (retention policy).
		r.Rollouts.Release(req.String())
		return ctrl.Result{}, r.Upgrade.Observe(ctx, req.String(), "")
	}
	e := current.DeepCopy()
	e.Default()

	p := &pass{observed: &status.Observed{}}
	out, err := r.run(ctx, e, p)
	next := status.Compute(e, current.Status, p.observed, p.problems)
	updated := current.DeepCopy()
	updated.Status = next
	wout, werr := pipeline.PatchStatus(ctx, r.Client, current, updated)
	out, err = pipeline.AfterStatusWrite(out, err, wout, werr)
	if uerr := r.Upgrade.Observe(ctx, req.String(), rolloutInProgress(p)); uerr != nil {
		err = errors.Join(err, uerr)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).V(1).Info("reconciled", "outcome", out.Kind.String(), "reason", out.Reason,
		"phase", next.Phase, "readyNodes", next.ReadyNodes, "requeueAfter", out.Result().RequeueAfter)
	return out.Result(), nil
}

// rolloutInProgress says why an operator upgrade should wait for this cluster ("" when it need not):
// a scale-in or rollout the lifecycle layer is in the middle of.
func rolloutInProgress(p *pass) string {
	if !p.problems.Busy {
		return ""
	}
	if p.problems.ProgressReason != "" {
		return p.problems.ProgressReason
	}
	return "Rollout"
}

// pass collects what one reconcile learned, for the single status write at its end.
type pass struct {
	observed *status.Observed
	problems status.Problems
}

func (r *EMQXReconciler) run(ctx context.Context, e *v2beta1.EMQX, p *pass) (pipeline.Outcome, error) {
	logger := log.FromContext(ctx)

	if prob := validation.Config(e); prob != nil {
		return r.rejectSpec(e, p, prob), nil
	}
	// Before anything is made: an older EmqxEnterprise or EmqxBroker of the same name would share
	// the headless Service and the pods' instance label.
	if kind, err := refs.OlderSameName(ctx, r.Client, e, "EMQX"); err != nil {
		return pipeline.Outcome{}, err
	} else if kind != "" {
		return r.rejectSpec(e, p, refs.NameInUse(kind, e)), nil
	}
	// Before anything is made: no Secret, Service or workload next to another operator's, unless
	// the user asked for them to be taken over.
	foreign, err := r.foreignWorkloads(ctx, e)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if foreign.Problem != nil {
		return r.rejectSpec(e, p, foreign.Problem), nil
	}
	if foreign.Recorded {
		return pipeline.WaitFor(200*time.Millisecond, "AdoptingWorkloads"), nil
	}
	if adopting(e) {
		if err := r.removeForeignPDBs(ctx, e); err != nil {
			return pipeline.Outcome{}, err
		}
	}
	operatorKey, prob, err := r.ensureGenerated(ctx, e)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if prob != nil {
		return r.rejectSpec(e, p, prob), nil
	}
	userKeys, prob, err := r.userKeys(ctx, e)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if prob != nil {
		return r.rejectSpec(e, p, prob), nil
	}

	var evacs []emqxapi.Evacuation
	p.observed, evacs = r.observe(ctx, e, operatorKey)
	if p.observed.ReadErr != nil {
		return r.cacheReadFailed(ctx, p), nil
	}
	ownKey := operatorKey // what the bootstrap file holds, whichever key this pass calls EMQX with
	if adopting(e) && keyRefused(p.observed.NodesErr) {
		// The vendor's nodes know only the vendor's key until a core restarts with this
		// operator's bootstrap file: use it meanwhile.
		vendorKey, found, err := r.vendorAPIKey(ctx, e)
		if err != nil {
			return pipeline.Outcome{}, err
		}
		if found {
			operatorKey = vendorKey
			if p.observed, evacs = r.observe(ctx, e, operatorKey); p.observed.ReadErr != nil {
				return r.cacheReadFailed(ctx, p), nil
			}
		}
	}
	p.observed.Foreign, p.observed.ForeignSets = splitForeign(p.observed), foreign.ReplicaSets
	if p.observed.NodesErr != nil && !errors.Is(p.observed.NodesErr, emqxapi.ErrNoEndpoint) {
		logger.Info("EMQX API not answering", "error", p.observed.NodesErr.Error(), "unreachable", p.observed.Unreachable)
	}

	// Pause holds every change back; the cluster is still observed and reported.
	if e.Annotations[v2beta1.PauseAnnotation] == "true" {
		p.problems.Paused = true
		return pipeline.WaitFor(r.readyResync(), pipeline.ReasonPaused), nil
	}

	lic, prob, err := r.planLicense(ctx, e, p.observed)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if prob != nil {
		return r.rejectSpec(e, p, prob), nil
	}
	if lic.Apply {
		if err := r.applyLicense(ctx, e, &lic, operatorKey, p.observed, p); err != nil {
			return pipeline.Outcome{}, err
		}
	}

	tlsPlan, prob, err := r.planTLS(ctx, e, p)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if prob != nil {
		return r.rejectSpec(e, p, prob), nil
	}
	if tlsPlan.Wait {
		// No certificate to mount yet (cert-manager has not issued it): pods would not start.
		return pipeline.WaitFor(pipeline.MissingDependency, pipeline.ReasonWaitingForCertificate), nil
	}

	conf, err := r.planConfig(ctx, e, p.observed, p)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	plan := lifecycle.Decide(r.lifecycleState(e, p.observed, evacs))
	p.problems.ProgressRole, p.problems.ProgressReason, p.problems.ProgressMessage = plan.Role, plan.Reason, plan.Message
	p.problems.Busy = plan.Busy
	objs, err := desired.Objects(r.Renderer, e, desired.Inputs{
		// Once replicants exist they stay managed, even while a core restarts.
		ReplicantsAllowed: p.observed.ReplicantSet != nil || p.observed.CoresReady(e),
		OperatorKey:       ownKey,
		UserKeys:          userKeys,
		CoreReplicas:      &plan.CoreReplicas,
		ReplicantReplicas: &plan.ReplicantReplicas,
		EMQXConf:          conf.Hold,
		LicenseKey:        lic.Write,
		TLS:               tlsPlan.Files,
		ProxyEnv:          r.ProxyEnv,
		AdoptedCore:       adoptedCore(e, p.observed.CoreSet),
	})
	if err != nil {
		return pipeline.Outcome{}, err
	}
	// Adopting: objects the vendor's operator made are replaced by this operator's rather than
	// merged with them (a merged pod template would mount two files at one path).
	applier := &apply.Applier{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder, ReplaceForeign: adopting(e)}
	changes, err := applier.Apply(ctx, e, objs)
	var replacing *apply.ReplacePending
	if errors.As(err, &replacing) {
		// Not a failure: the object's deletion wakes the next pass, which creates it again.
		p.problems.Busy = true
		role := v2beta1.RoleCore
		if replacing.Name == e.ReplicantWorkloadName() {
			role = v2beta1.RoleReplicant
		}
		p.problems.ProgressRole, p.problems.ProgressReason, p.problems.ProgressMessage = role, pipeline.ReasonReplacingObject, replacing.Error()
		return pipeline.WaitFor(pipeline.ObjectReleased, pipeline.ReasonReplacingObject), nil
	}
	if err != nil {
		p.problems.ApplyError = err.Error()
		r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, "ApplyFailed", "Apply", "%s", err.Error())
		return pipeline.Outcome{}, err
	}
	p.problems.Applied = true
	changedWorkloads := apply.StatefulSetChanged(changes)
	if changedWorkloads {
		// This pass observed the StatefulSets before it changed them: whether pods are now
		// outdated shows only once the StatefulSet controller has seen the change, so the
		// cluster is not reported Ready on this pass's view (a spec change would read as done).
		p.problems.Busy = true
		if plan.Reason == "" {
			p.problems.ProgressReason, p.problems.ProgressMessage = "Applying", "the StatefulSets were just changed; looking again"
		}
	}
	if err := r.followRestore(ctx, e, p); err != nil {
		return pipeline.Outcome{}, err
	}
	r.observeLicense(ctx, e, operatorKey, p.observed, lic, p)
	r.observeTLS(ctx, e, p.observed, tlsPlan, p)

	reason, msg, err := r.admissionProblem(ctx, p.observed.CoreSet, p.observed.ReplicantSet)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if reason == "" {
		reason, msg = kubeletRefusal(p.observed.Pods)
	}
	if reason != "" {
		p.problems.AdmissionReason, p.problems.AdmissionMessage = reason, msg
		r.warnOnce(e, v2beta1.PodsAdmitted, reason, msg)
		return pipeline.WaitFor(pipeline.Converging, reason), nil
	}

	if why, err := r.expandVolumes(ctx, e); err != nil {
		return pipeline.Outcome{}, err
	} else if why != "" && plan.Reason == "" {
		plan.Reason, plan.Role, plan.Message = "VolumeNotExpanded", v2beta1.RoleCore, why
		p.problems.ProgressRole, p.problems.ProgressReason, p.problems.ProgressMessage = plan.Role, plan.Reason, plan.Message
	}

	if conf.Pending {
		prob := &validation.Problem{Reason: pipeline.ReasonConfigRejected}
		if !conf.Rejected {
			if prob, err = r.applyConfig(ctx, e, conf, operatorKey, p.observed); err != nil {
				return pipeline.Outcome{}, err
			}
		} else if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.ConfigValid); c != nil {
			prob.Message = c.Message
		}
		if prob != nil {
			return r.rejectSpec(e, p, prob), nil
		}
		// Accepted: the next pass writes it to the ConfigMap (and rolls pods if restart-only keys changed).
		p.problems.AppliedConfigRevision = conf.Revision
		return pipeline.WaitFor(200*time.Millisecond, "ConfigApplied"), nil
	}

	key := client.ObjectKeyFromObject(e).String()
	// The slot is held until the cluster has converged again, not merely until no pod is outdated:
	// between deleting a pod and its replacement rejoining there is briefly nothing left to replace.
	converged := p.observed.CoresReady(e) && (e.ReplicantReplicas() == 0 ||
		p.observed.ReplicantSet != nil && p.observed.RoleJoined(e, v2beta1.RoleReplicant, e.ReplicantReplicas()))
	if !plan.Busy && converged {
		r.Rollouts.Release(key)
	}
	if plan.Step.Disruptive && !r.Rollouts.TryAcquire(key) {
		// Another cluster holds the last rollout slot: this one waits its turn.
		p.problems.ProgressReason = "WaitingForRolloutSlot"
		p.problems.ProgressMessage = fmt.Sprintf("%d clusters are already rolling (--max-concurrent-rollouts); waiting for a slot", r.Rollouts.Max)
		return pipeline.WaitFor(pipeline.Converging, "WaitingForRolloutSlot"), nil
	}
	if err := r.execute(ctx, e, plan, operatorKey, p.observed); err != nil {
		r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, "StepFailed", "Lifecycle", "%s", err.Error())
		return pipeline.Outcome{}, err
	}
	if changedWorkloads {
		return pipeline.WaitFor(pipeline.Settle, "Applying"), nil
	}
	if plan.Step.Kind != lifecycle.None || plan.Busy || plan.Reason != "" {
		return pipeline.WaitFor(pipeline.Converging, plan.Reason), nil
	}
	if !p.observed.CoresReady(e) || !p.observed.RoleJoined(e, v2beta1.RoleReplicant, e.ReplicantReplicas()) ||
		p.observed.ReplicantSet == nil && e.ReplicantReplicas() > 0 {
		return pipeline.WaitFor(pipeline.Converging, "NodesJoining"), nil
	}
	if p.problems.TLSRotating {
		// No watch reports a node re-reading its certificate files: look again soon.
		return pipeline.WaitFor(pipeline.Converging, pipeline.ReasonCertificateRotating), nil
	}
	return pipeline.Converged(r.readyResync()), nil
}

// rejectSpec records a spec error: a false condition, one Warning Event, nothing applied. A
// problem outside the spec (a Secret not created yet) is looked at again; the rest wait for the
// next spec change, which the watch delivers.
func (r *EMQXReconciler) rejectSpec(e *v2beta1.EMQX, p *pass, prob *validation.Problem) pipeline.Outcome {
	p.problems.ConfigReason, p.problems.ConfigMessage = prob.Reason, prob.Message
	r.warnOnce(e, v2beta1.ConfigValid, prob.Reason, prob.Message)
	if prob.Retry {
		return pipeline.WaitFor(pipeline.MissingDependency, prob.Reason)
	}
	return pipeline.Rejected(prob.Reason)
}

// cacheReadFailed ends a pass whose view of the cluster's objects could not be read: the status keeps
// what earlier passes saw (status.Compute) and the pass runs again shortly.
func (r *EMQXReconciler) cacheReadFailed(ctx context.Context, p *pass) pipeline.Outcome {
	log.FromContext(ctx).Error(p.observed.ReadErr, "reading the cluster's workloads and pods from the cache")
	return pipeline.WaitFor(pipeline.Converging, status.ReasonCacheReadFailed)
}

// warnOnce emits a Warning Event unless the condition already says the same, so a problem that
// persists across reconciles is reported once, not on every pass.
func (r *EMQXReconciler) warnOnce(e *v2beta1.EMQX, condType, reason, msg string) {
	if c := meta.FindStatusCondition(e.Status.Conditions, condType); c != nil &&
		c.Status == "False" && c.Reason == reason && c.Message == msg {
		return
	}
	r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, reason, "Validate", "%s", msg)
}

// adoptedCore is the live core StatefulSet when the operator adopted it (nil otherwise).
func adoptedCore(e *v2beta1.EMQX, live *appsv1.StatefulSet) *appsv1.StatefulSet {
	if live == nil || live.Name == e.DefaultCoreWorkloadName() {
		return nil
	}
	return live
}

func (r *EMQXReconciler) readyResync() time.Duration {
	if r.ReadyResync > 0 {
		return r.ReadyResync
	}
	return pipeline.DefaultReadyResync
}
