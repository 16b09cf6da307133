package emqx4

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

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/controllers/refs"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// Emqx4Reconciler reconciles one of the v1beta2 kinds (EmqxEnterprise or EmqxBroker: one
// reconciler per kind) through the same pipeline as EMQX: pure builders render the embedded chart
// in EMQX 4 mode, one apply loop applies the result, the lifecycle layer picks the next day-2 step,
// and one status write ends the pass.
type Emqx4Reconciler struct {
	// Client reads from the manager's cache and writes.
	Client client.Client
	// APIReader reads without a cache: users' licence Secrets before they are labelled watched.
	APIReader   client.Reader
	Scheme      *runtime.Scheme
	Recorder    events.EventRecorder
	Renderer    *render.Renderer
	EMQXClients emqxapi.Factory
	ProxyEnv    []corev1.EnvVar
	// SecretPropagation is how long the kubelet may take to update mounted Secret files
	// (DefaultSecretPropagation when zero): a listener is restarted for a new certificate only after it.
	SecretPropagation time.Duration
	// ReadyResync is how often a healthy cluster is looked at again (watches.yaml's
	// reconcilePeriod; pipeline.DefaultReadyResync when zero).
	ReadyResync time.Duration
	// Kind is EmqxEnterprise or EmqxBroker; New makes an empty object of that kind.
	Kind string
	New  func() v1beta2.Cluster
	// Workers sizes how many passes run at once from the number of clusters of the kind (nil: as
	// many as the controller's workers).
	Workers *pipeline.WorkerGate
}

// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxenterprises;emqxbrokers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxenterprises/status;emqxbrokers/status,verbs=get;update;patch
// The operator grants EMQX 4 pods read access to endpoints (Kubernetes cluster discovery), so it
// must hold that access itself.
// +kubebuilder:rbac:groups="",resources=endpoints,verbs=get;list;watch

// pass4 collects what one reconcile learned, for the single status write at its end.
type pass4 struct {
	// c is the cluster; spec and listener are its spec and listener with the API's defaults.
	c    v1beta2.Cluster
	spec v1beta2.EmqxSpec
	// image is the EMQX image pods run: spec.image behind watches.yaml's imageRegistry mirror.
	image    string
	listener v1beta2.Listener
	problem  *validation.Problem
	set      *appsv1.StatefulSet
	pods     []corev1.Pod
	nodes    []emqxapi.NodeV4
	nodesErr error
	plan     lifecycle.Plan
	applied  bool
	applying bool // this pass changed the StatefulSet
	license  licenseState4
	certs    []v1beta2.ListenerCertificate
	certWait time.Duration

	// Gathered by the steps for the steps after them.
	creds   emqxapi.Credentials
	want    []byte // the licence the spec names
	mounted []byte // the licence the pods mount
	// unwatched are users' Secrets read past the cache: labelled watched once the steps are done.
	unwatched []*corev1.Secret
}

// Reconcile brings one EMQX 4 cluster one step closer to its spec.
func (r *Emqx4Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	leave, err := r.Workers.Enter(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer leave()
	current := r.New()
	if err := r.Client.Get(ctx, req.NamespacedName, current); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !current.GetDeletionTimestamp().IsZero() {
		// Owner references hand the children to the garbage collector; PVCs stay.
		return ctrl.Result{}, nil
	}
	st := current.ClusterStatus()
	p := &pass4{c: current, license: licenseState4{InEffect: st.LicenseRevision, Rejected: st.RejectedLicenseRevision}}
	p.spec, p.listener = v1beta2.Defaulted(current)
	p.image = render.RewriteImage(p.spec.Image, r.Renderer.Overrides().ImageRegistry)
	out, step, err := pipeline.Run(ctx, r.Kind, r.steps(), p)
	if pipeline.NamespaceTerminating(err) {
		// The namespace is being deleted: nothing more can be made in it, and all of it goes.
		log.FromContext(ctx).V(1).Info("the namespace is being deleted; nothing to do", "step", step)
		return ctrl.Result{}, nil
	}
	// The effect the reads asked for: a referenced Secret is watched from now on.
	err = errors.Join(err, refs.WatchSecrets(ctx, r.Client, p.unwatched))
	next := status.ComputeEmqx4(current, p.observed())
	updated := current.DeepCopyObject().(v1beta2.Cluster)
	*updated.ClusterStatus() = next
	wout, werr := pipeline.PatchStatus(ctx, r.Client, current, updated)
	out, err = pipeline.AfterStatusWrite(out, err, wout, werr)
	if err != nil {
		return ctrl.Result{}, err
	}
	// A spec error at info level; a wait or a converged pass at debug level (see the emqx package).
	logger := log.FromContext(ctx)
	if out.Kind != pipeline.ConfigError {
		logger = logger.V(1)
	}
	logger.Info("reconciled", "step", step, "outcome", out.Kind.String(), "reason", out.Reason,
		"readyReplicas", next.ReadyReplicas, "requeueAfter", out.Result().RequeueAfter)
	return out.Result(), nil
}

// observed assembles the pass's reports into the status input: the one place where what the pass
// learned becomes status content.
func (p *pass4) observed() status.Emqx4Observed {
	return status.Emqx4Observed{
		Problem: p.problem, Spec: p.spec, Image: p.image, Set: p.set, Pods: p.pods, Nodes: p.nodes, NodesErr: p.nodesErr,
		Plan: p.plan, Applied: p.applied, Applying: p.applying, Certs: p.certs,
		License: status.License4{InEffect: p.license.InEffect, Rejected: p.license.Rejected, RejectMessage: p.license.RejectMessage},
	}
}

// reject records a spec or dependency problem: Failed=True, one Warning Event, nothing applied. A
// missing Secret is looked at again (its creation is not watched); a spec error waits for the next
// spec change.
func (r *Emqx4Reconciler) reject(c v1beta2.Cluster, p *pass4, prob *validation.Problem) pipeline.Outcome {
	p.problem = prob
	if failed := meta.FindStatusCondition(c.ClusterStatus().Conditions, v1beta2.ConditionFailed); failed == nil ||
		failed.Reason != prob.Reason || failed.Message != prob.Message {
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, prob.Reason, "Validate", "%s", prob.Message)
	}
	if prob.Retry {
		return pipeline.WaitFor(pipeline.MissingDependency, prob.Reason)
	}
	return pipeline.Rejected(prob.Reason)
}

// execute carries out the lifecycle step. EMQX 4 nodes join by themselves (Kubernetes discovery)
// and have no evacuation API the operator uses, so the only step is replacing a pod.
func (r *Emqx4Reconciler) execute(ctx context.Context, c v1beta2.Cluster, plan lifecycle.Plan) error {
	switch plan.Step.Kind {
	case lifecycle.None:
		return nil
	case lifecycle.ReplacePod:
		pod := plan.Step.Pod
		err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("replacing pod %s: %w", pod.Name, err)
		}
		r.Recorder.Eventf(c, pod, corev1.EventTypeNormal, string(plan.Step.Kind), "Lifecycle", "%s", plan.Message)
		return nil
	default:
		return fmt.Errorf("the lifecycle step %s has no EMQX 4 equivalent", plan.Step.Kind)
	}
}

func (r *Emqx4Reconciler) readyResync() time.Duration {
	if r.ReadyResync > 0 {
		return r.ReadyResync
	}
	return pipeline.DefaultReadyResync
}
