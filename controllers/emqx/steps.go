package emqx

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/controllers/refs"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// steps is the EMQX reconcile, in order. The order is the rules:
//  1. Nothing is made before the spec, the name and the ownership of the cluster's objects are
//     checked (a Secret or Service next to another operator's would be taken over).
//  2. The cluster is observed before anything is decided, and a paused cluster is only observed.
//  3. A new licence key reaches the running cluster before the Secret pods mount; a certificate is
//     validated before it is copied; both before the desired objects are computed from them.
//  4. The lifecycle plan (how many replicas each role may have now) comes before the apply.
//  5. What the apply changed, the restore and what nodes serve are looked at after the apply.
//  6. Refused pods stop the pass before any lifecycle step; a config change is pushed to the
//     running nodes before any node is replaced; one disruptive step per pass, in a rollout slot.
func (r *EMQXReconciler) steps() []pipeline.Step[*pass] {
	return []pipeline.Step[*pass]{
		{Name: "Validate", Run: r.validate},
		{Name: "Ownership", Run: r.ownership},
		{Name: "Credentials", Run: r.credentials},
		{Name: "Observe", Run: r.observeStep},
		{Name: "Pause", Run: r.pause},
		{Name: "UpgradePath", Run: r.upgradePath},
		{Name: "License", Run: r.license},
		{Name: "TLS", Run: r.tls},
		{Name: "Config", Run: r.config},
		{Name: "DSReplication", Run: r.dsReplication},
		{Name: "Plan", Run: r.planStep},
		{Name: "Apply", Run: r.applyStep},
		{Name: "Monitoring", Run: r.monitoring},
		{Name: "Restore", Run: r.restore},
		{Name: "Served", Run: r.served},
		{Name: "Admission", Run: r.admission},
		{Name: "Volumes", Run: r.volumes},
		{Name: "ConfigPush", Run: r.configPush},
		{Name: "Execute", Run: r.executeStep},
		{Name: "Converged", Run: r.converged},
	}
}

// validate refuses a spec the operator's checks reject.
func (r *EMQXReconciler) validate(_ context.Context, p *pass) (pipeline.Outcome, error) {
	if prob := validation.Spec(p.e); prob != nil {
		return r.rejectSpec(p.e, p, prob), nil
	}
	return pipeline.Next(), nil
}

// ownership holds the cluster while another cluster or operator owns what it would make: an older
// EmqxEnterprise or EmqxBroker of the same name (they would share the headless Service and the
// pods' instance label), or the vendor's workloads, unless the user asked for them to be taken over.
func (r *EMQXReconciler) ownership(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	e := p.e
	if kind, err := refs.OlderSameName(ctx, r.Client, e, "EMQX"); err != nil {
		return pipeline.Outcome{}, err
	} else if kind != "" {
		return r.rejectSpec(e, p, refs.NameInUse(kind, e)), nil
	}
	foreign, err := r.foreignWorkloads(ctx, e)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if foreign.Problem != nil {
		return r.rejectSpec(e, p, foreign.Problem), nil
	}
	if foreign.Recorded {
		return pipeline.WaitFor(pipeline.Settle, pipeline.ReasonAdoptingWorkloads), nil
	}
	p.foreignSets = foreign.ReplicaSets
	if adopting(e) {
		if err := r.removeForeignPDBs(ctx, e); err != nil {
			return pipeline.Outcome{}, err
		}
	}
	return pipeline.Next(), nil
}

// credentials makes the generated Secrets that do not exist yet and resolves the users' API keys.
func (r *EMQXReconciler) credentials(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	keys, prob, err := r.ensureGenerated(ctx, p.e)
	if err != nil || prob != nil {
		return r.rejectOrFail(p, prob, err)
	}
	p.operatorKey, p.ownKey, p.scrapeKey = keys.operator, keys.operator, keys.scrape
	if p.userKeys, prob, err = r.userKeys(ctx, p); err != nil || prob != nil {
		return r.rejectOrFail(p, prob, err)
	}
	return pipeline.Next(), nil
}

// observeStep reads the workloads and pods from the cache and what the health budget allows from
// EMQX. While the vendor's workloads are adopted, nodes know only the vendor's key until a core
// restarts with this operator's bootstrap file: that key is used meanwhile.
func (r *EMQXReconciler) observeStep(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	e := p.e
	var err error
	if p.observed = r.observeObjects(ctx, e); p.observed.ReadErr != nil {
		return r.cacheReadFailed(ctx, p), nil
	}
	// The operator's own key names the fingerprint, also while a vendor key is used meanwhile, so
	// that an adopted cluster gets the same budget.
	p.fingerprint = fingerprint(e, p.ownKey.Key, p.observed)
	p.health = r.Health.Decide(clusterKey(e), p.fingerprint, r.now())
	r.readEMQX(ctx, p)
	if adopting(e) && keyRefused(p.observed.NodesErr) {
		vendorKey, found, err := r.vendorAPIKey(ctx, e)
		if err != nil {
			return pipeline.Outcome{}, err
		}
		if found {
			p.operatorKey = vendorKey
			p.health = healthpoll.Decision{Read: healthpoll.Everything}
			r.readEMQX(ctx, p)
		}
	}
	p.observed.Foreign, p.observed.ForeignSets = splitForeign(p.observed), p.foreignSets
	if p.reports.Plugins.Items, err = r.pluginsOf(ctx, e); err != nil {
		return pipeline.Outcome{}, err
	}
	p.reports.Plugins.Listed = true
	if err := p.observed.NodesErr; err != nil && !errors.Is(err, emqxapi.ErrNoEndpoint) {
		log.FromContext(ctx).Info("EMQX API not answering", "error", err.Error(), "unreachable", p.observed.Unreachable)
	}
	return pipeline.Next(), nil
}

// pause holds every change back; the cluster is still observed and reported.
func (r *EMQXReconciler) pause(_ context.Context, p *pass) (pipeline.Outcome, error) {
	if p.e.Annotations[v2beta1.PauseAnnotation] == "true" {
		p.reports.Paused = true
		return pipeline.WaitFor(r.readyResync(), pipeline.ReasonPaused), nil
	}
	return pipeline.Next(), nil
}

// license decides which licence key the pods mount, sending a new key to the running cluster first.
func (r *EMQXReconciler) license(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	if p.e.Spec.License == nil {
		return pipeline.Next(), nil
	}
	in, prob, err := r.readLicense(ctx, p)
	if err != nil || prob != nil {
		return r.rejectOrFail(p, prob, err)
	}
	if prob := validation.LicenseSecretForClustering(p.e, in.UserKey); prob != nil {
		return r.rejectSpec(p.e, p, prob), nil
	}
	p.lic = decideLicense(p.e, in)
	switch {
	case p.lic.Refused != nil:
		p.reports.License.Reason, p.reports.License.Message = p.lic.Refused.Reason, p.lic.Refused.Message
	case p.lic.Apply:
		if err := r.applyLicense(ctx, p.e, &p.lic, p.operatorKey, p.observed, p); err != nil {
			return pipeline.Outcome{}, err
		}
	}
	return pipeline.Next(), nil
}

// tls decides which certificate the pods mount; without one to mount yet (cert-manager has not
// issued it) pods would not start, so the pass waits while cert-manager's Certificate is applied.
func (r *EMQXReconciler) tls(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	if p.e.Spec.TLS == nil {
		return pipeline.Next(), nil
	}
	in, err := r.readTLS(ctx, p)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	p.tlsPlan = decideTLS(p.e, in, time.Now())
	d := p.tlsPlan
	if d.Problem != nil {
		return r.rejectSpec(p.e, p, d.Problem), nil
	}
	if d.RotationEvent != "" {
		r.Recorder.Eventf(p.e, nil, corev1.EventTypeNormal, pipeline.ReasonCertificateRotating, "TLS", "%s", d.RotationEvent)
	}
	if d.Refused != "" {
		p.reports.TLS.Saw(false, pipeline.ReasonCertificateInvalid, d.Refused)
		r.warnOnce(p.e, v2beta1.TLSCertificateReady, p.reports.TLS.Reason, p.reports.TLS.Message)
	}
	if d.Wait {
		if err := r.applyCertificate(ctx, p.e, p); err != nil {
			return pipeline.Outcome{}, err
		}
		return pipeline.WaitFor(pipeline.MissingDependency, pipeline.ReasonWaitingForCertificate), nil
	}
	return pipeline.Next(), nil
}

// config decides which emqx.conf the ConfigMap holds and whether the spec's must be pushed first.
func (r *EMQXReconciler) config(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	in, err := r.readConfig(ctx, p)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	p.conf, p.reports.Config = decideConfig(p.e, in)
	return pipeline.Next(), nil
}

// planStep asks the lifecycle planner for the replicas each role may have now and the next step.
func (r *EMQXReconciler) planStep(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	st := r.lifecycleState(p.e, p.observed, p.evacs)
	st.KeepPod = p.dsKeep
	if pods := lifecycle.DepartingUnlisted(&st); len(pods) > 0 {
		creds := emqxapi.Credentials{Key: p.operatorKey.Key, Secret: p.operatorKey.Secret}
		st.Outsiders = r.readOutsiders(ctx, p.e, p.observed, pods, creds)
	}
	r.syncEvacuationClock(&st, p.health.Read == healthpoll.Everything || p.health.Read == healthpoll.Evacuations)
	p.plan = lifecycle.Decide(st)
	p.reports.Progress = status.ProgressReport{Role: p.plan.Role, Reason: p.plan.Reason, Message: p.plan.Message, Busy: p.plan.Busy}
	return pipeline.Next(), nil
}

// applyStep computes the desired objects and applies them. Adopting, objects the vendor's operator
// made are replaced by this operator's rather than merged (a merged pod template would mount two
// files at one path).
func (r *EMQXReconciler) applyStep(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	e := p.e
	objs, err := desired.Objects(r.Renderer, e, desired.Inputs{
		// Once replicants exist they stay managed, even while a core restarts or their
		// StatefulSet is being replaced (its pods orphaned, waiting to be adopted).
		ReplicantsAllowed: p.observed.ReplicantSet != nil || p.observed.CoresReady(e) ||
			len(p.observed.PodsOfRole(v2beta1.RoleReplicant)) > 0,
		OperatorKey: p.ownKey, UserKeys: p.userKeys, ScrapeKey: p.scrapeKey,
		CoreReplicas: &p.plan.CoreReplicas, ReplicantReplicas: &p.plan.ReplicantReplicas,
		EMQXConf: p.conf.Hold, LicenseKey: p.lic.Write, TLS: p.tlsPlan.Files, ProxyEnv: r.ProxyEnv,
		AdoptedCore: adoptedCore(e, p.observed.CoreSet),
	})
	if err != nil {
		return pipeline.Outcome{}, err
	}
	applier := &apply.Applier{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder, ReplaceForeign: adopting(e), Memo: r.ApplyMemo}
	changes, err := applier.Apply(ctx, e, objs)
	var replacing *apply.ReplacePending
	if errors.As(err, &replacing) {
		// Not a failure: the object's deletion wakes the next pass, which creates it again.
		p.reports.Progress = status.ProgressReport{Role: roleOf(e, replacing.Name), Reason: pipeline.ReasonReplacingObject, Message: replacing.Error(), Busy: true}
		return pipeline.WaitFor(pipeline.ObjectReleased, pipeline.ReasonReplacingObject), nil
	}
	if err != nil && !pipeline.NamespaceTerminating(err) {
		p.reports.Apply.Error = err.Error()
		r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, pipeline.ReasonApplyFailed, "Apply", "%s", err.Error())
	}
	if err != nil {
		return pipeline.Outcome{}, err
	}
	p.reports.Apply.Applied = true
	r.statefulSetsChanged(p, apply.StatefulSetChanged(changes))
	return pipeline.Next(), nil
}

// statefulSetsChanged records that the apply changed a StatefulSet. This pass observed the
// StatefulSets before it changed them: whether pods are now outdated shows only once the
// StatefulSet controller has seen the change, so the cluster is not reported Ready on this pass's
// view (a spec change would read as done). A supported upgrade's limitation is told now, once.
func (r *EMQXReconciler) statefulSetsChanged(p *pass, changed bool) {
	if p.objectsChanged = changed; !changed {
		return
	}
	if p.upgradeNotice != nil {
		r.upgradeNoticeEvent(p.e, p.upgradeNotice)
	}
	p.reports.Progress.Busy = true
	if p.plan.Reason == "" {
		p.reports.Progress.Reason, p.reports.Progress.Message = pipeline.ReasonApplying, "the StatefulSets were just changed; looking again"
	}
}

// restore makes and follows the restore of spec.restoreFrom.
func (r *EMQXReconciler) restore(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	return pipeline.Next(), r.followRestore(ctx, p.e, p)
}

// served reads the running licence and confirms the certificate every node serves.
func (r *EMQXReconciler) served(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	r.observeLicense(ctx, p.e, p.operatorKey, p.observed, p.lic, p)
	r.observeTLS(ctx, p.e, p.observed, p.tlsPlan, p)
	return pipeline.Next(), nil
}

// admission stops the pass while the API server or a kubelet refuses the cluster's pods: no
// lifecycle step can help until the user fixes the spec or the namespace.
func (r *EMQXReconciler) admission(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	reason, msg, err := r.admissionProblem(ctx, p.observed.CoreSet, p.observed.ReplicantSet)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if reason == "" {
		reason, msg = kubeletRefusal(p.observed.Pods)
	}
	if reason == "" {
		return pipeline.Next(), nil
	}
	p.reports.Admission = status.AdmissionReport{Reason: reason, Message: msg}
	r.warnOnce(p.e, v2beta1.PodsAdmitted, reason, msg)
	return pipeline.WaitFor(pipeline.Converging, reason), nil
}

// volumes grows the core PVCs to the spec's size, and says why one cannot follow.
func (r *EMQXReconciler) volumes(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	why, err := r.expandVolumes(ctx, p.e)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if why != "" && p.plan.Reason == "" {
		p.plan.Reason, p.plan.Role, p.plan.Message = "VolumeNotExpanded", v2beta1.RoleCore, why
		p.reports.Progress.Role, p.reports.Progress.Reason, p.reports.Progress.Message = p.plan.Role, p.plan.Reason, p.plan.Message
	}
	return pipeline.Next(), nil
}

// configPush sends a changed config to the running nodes; the next pass writes what they accepted
// to the ConfigMap (and rolls pods if restart-only keys changed). A rejected revision is not sent again.
func (r *EMQXReconciler) configPush(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	if !p.conf.Pending {
		return pipeline.Next(), nil
	}
	prob := &validation.Problem{Reason: pipeline.ReasonConfigRejected}
	if !p.conf.Rejected {
		var err error
		if prob, err = r.applyConfig(ctx, p.e, p.conf, p.operatorKey, p.observed); err != nil {
			return pipeline.Outcome{}, err
		}
	} else if c := meta.FindStatusCondition(p.e.Status.Conditions, v2beta1.ConfigValid); c != nil {
		prob.Message = c.Message
	}
	if prob != nil {
		return r.rejectSpec(p.e, p, prob), nil
	}
	p.reports.Config.AppliedRevision = p.conf.Revision
	return pipeline.WaitFor(pipeline.Settle, pipeline.ReasonConfigApplied), nil
}

// executeStep takes the plan's step. A disruptive step (a node stopped or replaced) needs one of
// the operator-wide rollout slots, held until the cluster has converged again, not merely until no
// pod is outdated: between deleting a pod and its replacement rejoining there is briefly nothing
// left to replace.
func (r *EMQXReconciler) executeStep(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	e, o := p.e, p.observed
	key := client.ObjectKeyFromObject(e).String()
	converged := o.CoresReady(e) && (e.ReplicantReplicas() == 0 ||
		o.ReplicantSet != nil && o.RoleJoined(e, v2beta1.RoleReplicant, e.ReplicantReplicas()))
	if !p.plan.Busy && converged {
		r.Rollouts.Release(key)
	}
	// The plan was made on the StatefulSets this pass observed, before Apply changed them: which
	// pods are outdated, and the order they go in, may differ on the new ones. The next pass plans
	// on what they now say (chaos soak SEED=1, c0 at 06:20:19: a replicant's evacuation for the
	// previous revision started in the pass that updated both StatefulSets, a core's for the new
	// revision 120 ms later — two nodes down).
	if p.objectsChanged && p.plan.Step.Kind != lifecycle.None {
		return pipeline.Next(), nil
	}
	if p.plan.Step.Disruptive && !r.Rollouts.TryAcquire(key) {
		p.reports.Progress.Reason = pipeline.ReasonWaitingForRolloutSlot
		p.reports.Progress.Message = fmt.Sprintf("%d clusters are already rolling (--max-concurrent-rollouts); waiting for a slot", r.Rollouts.Max)
		return pipeline.WaitFor(pipeline.Converging, pipeline.ReasonWaitingForRolloutSlot), nil
	}
	if err := r.execute(ctx, e, p.plan, p.operatorKey, o); err != nil {
		r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, pipeline.ReasonStepFailed, "Lifecycle", "%s", err.Error())
		return pipeline.Outcome{}, err
	}
	return pipeline.Next(), nil
}

// converged ends the pass: done only when nothing is changing, every node has joined and every
// node serves the certificate; otherwise it says what the cluster is waiting for.
func (r *EMQXReconciler) converged(_ context.Context, p *pass) (pipeline.Outcome, error) {
	e, o := p.e, p.observed
	switch {
	case p.objectsChanged:
		return pipeline.WaitFor(pipeline.Settle, pipeline.ReasonApplying), nil
	case p.plan.Step.Kind != lifecycle.None || p.plan.Busy || p.plan.Reason != "":
		return pipeline.WaitFor(pipeline.Converging, p.plan.Reason), nil
	case !o.CoresReady(e) || !o.RoleJoined(e, v2beta1.RoleReplicant, e.ReplicantReplicas()) ||
		o.ReplicantSet == nil && e.ReplicantReplicas() > 0:
		if o.AwaitingJoin(e, r.now(), r.joinTimeout()) {
			return pipeline.WaitFor(pipeline.Joining, pipeline.ReasonNodesJoining), nil
		}
		return pipeline.WaitFor(pipeline.Converging, pipeline.ReasonNodesJoining), nil
	case p.reports.DS.Observed && p.reports.DS.InUse && !p.reports.DS.Ready:
		// Replicas move in EMQX; no watch tells when they are done.
		return pipeline.WaitFor(pipeline.Converging, p.reports.DS.Reason), nil
	case p.reports.TLS.Rotating:
		// No watch reports a node re-reading its certificate files: look again soon.
		return pipeline.WaitFor(pipeline.Converging, pipeline.ReasonCertificateRotating), nil
	}
	// Stable: the reading stands until the next read the health budget allows.
	due := r.Health.Remember(clusterKey(e), p.fingerprint, p.reading, p.health.Read, r.now())
	return pipeline.Converged(r.nextLook(due)), nil
}

// rejectOrFail ends a step on a spec problem (recorded and reported) or an error.
func (r *EMQXReconciler) rejectOrFail(p *pass, prob *validation.Problem, err error) (pipeline.Outcome, error) {
	if err != nil {
		return pipeline.Outcome{}, err
	}
	return r.rejectSpec(p.e, p, prob), nil
}

// roleOf is the role whose workload has the name.
func roleOf(e *v2beta1.EMQX, workload string) string {
	if workload == e.ReplicantWorkloadName() {
		return v2beta1.RoleReplicant
	}
	return v2beta1.RoleCore
}
