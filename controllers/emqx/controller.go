// Package emqx reconciles EMQX resources (apps.emqx.io/v2beta1, EMQX 5 and 6): check the spec, make
// sure the generated credentials exist, observe the cluster, compute the desired objects
// (internal/desired, pure), apply them (internal/apply), take at most one lifecycle step, and write
// the status once.
package emqx

import (
	"context"
	"errors"
	"sync"
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
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
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
	// Health paces the EMQX reads of a stable cluster: one per interval (nil: every pass reads
	// everything).
	Health *healthpoll.Poller
	// Workers sizes how many passes run at once from the number of clusters (nil: as many as the
	// controller's workers).
	Workers *pipeline.WorkerGate
	// ApplyMemo lets a stable cluster's apply skip comparing the objects it found up to date
	// before (nil: every pass compares every object).
	ApplyMemo *apply.UpToDateMemo

	// toldRFAbove: clusters (namespace/name) whose replication-factor Warning this process has told. The
	// status says it too, but the next pass may read a cache that has not yet delivered that
	// status and would tell it again.
	toldRFAbove sync.Map
	// Clock is the time (nil: time.Now); tests move it.
	Clock func() time.Time

	evacuations nodeClock // by node: when the operator started its evacuation
	unlisted    nodeClock // by pod UID: when its Ready pod's node was first seen unlisted
}

// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxes,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
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
	leave, err := r.Workers.Enter(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer leave()
	current := &v2beta1.EMQX{}
	if err := r.Client.Get(ctx, req.NamespacedName, current); err != nil {
		r.Rollouts.Release(req.String())
		r.Health.Forget(req.String())
		r.ApplyMemo.Forget(req.NamespacedName)
		r.toldRFAbove.Delete(req.String())
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.Upgrade.Observe(ctx, req.String(), "")
		}
		return ctrl.Result{}, err
	}
	if !current.DeletionTimestamp.IsZero() {
		// Owner references hand the children to the garbage collector; PVCs stay (retention policy).
		r.Rollouts.Release(req.String())
		r.Health.Forget(req.String())
		r.ApplyMemo.Forget(req.NamespacedName)
		return ctrl.Result{}, r.Upgrade.Observe(ctx, req.String(), "")
	}
	e := current.DeepCopy()
	e.Default()

	p := &pass{e: e, observed: &status.Observed{}}
	out, step, err := pipeline.Run(ctx, "EMQX", r.steps(), p)
	if pipeline.NamespaceTerminating(err) {
		// The namespace is being deleted (its deletion reaches this cluster last or first, in no
		// set order): nothing more can be made in it, and everything in it goes. No retry, no
		// status: the deletion's own events end the cluster.
		r.Rollouts.Release(req.String())
		r.Health.Forget(req.String())
		log.FromContext(ctx).V(1).Info("the namespace is being deleted; nothing to do", "step", step)
		return ctrl.Result{}, r.Upgrade.Observe(ctx, req.String(), "")
	}
	// The effect the reads asked for: a referenced Secret is watched from now on.
	err = errors.Join(err, refs.WatchSecrets(ctx, r.Client, p.unwatched))
	next := status.Compute(e, current.Status, p.observed, p.reports)
	updated := current.DeepCopy()
	updated.Status = next
	wout, werr := pipeline.PatchStatus(ctx, r.Client, current, updated)
	out, err = pipeline.AfterStatusWrite(out, err, wout, werr)
	if out.Kind != pipeline.Done || err != nil {
		// Not stable: the next pass reads EMQX in full (the Converged step remembers a stable one).
		r.Health.Forget(clusterKey(e))
	}
	if uerr := r.Upgrade.Observe(ctx, req.String(), rolloutInProgress(p)); uerr != nil {
		err = errors.Join(err, uerr)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	logPass(ctx, step, out, "phase", next.Phase, "readyNodes", next.ReadyNodes)
	return out.Result(), nil
}

// logPass is the one line a pass leaves: the step it stopped at and why. A spec error is logged at
// info level; a wait or a converged pass at debug level (--zap-log-level=debug), as a converging
// cluster passes every few seconds.
func logPass(ctx context.Context, step string, out pipeline.Outcome, kv ...any) {
	logger := log.FromContext(ctx)
	if out.Kind != pipeline.ConfigError {
		logger = logger.V(1)
	}
	logger.Info("reconciled", append([]any{"step", step, "outcome", out.Kind.String(), "reason", out.Reason,
		"requeueAfter", out.Result().RequeueAfter}, kv...)...)
}

// rolloutInProgress says why an operator upgrade should wait for this cluster ("" when it need not):
// a scale-in or rollout the lifecycle layer is in the middle of.
func rolloutInProgress(p *pass) string {
	if !p.reports.Progress.Busy {
		return ""
	}
	if p.reports.Progress.Reason != "" {
		return p.reports.Progress.Reason
	}
	return "Rollout"
}

// rejectSpec records a spec error: a false condition, one Warning Event, nothing applied. A
// problem outside the spec (a Secret not created yet) is looked at again; the rest wait for the
// next spec change, which the watch delivers.
func (r *EMQXReconciler) rejectSpec(e *v2beta1.EMQX, p *pass, prob *validation.Problem) pipeline.Outcome {
	p.reports.Spec.Reason, p.reports.Spec.Message = prob.Reason, prob.Message
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

func (r *EMQXReconciler) joinTimeout() time.Duration {
	if r.JoinTimeout > 0 {
		return r.JoinTimeout
	}
	return lifecycle.DefaultJoinTimeout
}

func (r *EMQXReconciler) readyResync() time.Duration {
	if r.ReadyResync > 0 {
		return r.ReadyResync
	}
	return pipeline.DefaultReadyResync
}
