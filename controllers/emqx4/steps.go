package emqx4

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"

	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// steps is the EMQX 4 reconcile, in order, on the same machinery as EMQX's: nothing is made before
// the spec and the name are checked; the licence a pod mounts is decided after the cluster is
// observed (a new key reaches running nodes first); a changed StatefulSet ends the pass (observed
// before the change); certificates are rolled to listeners before the lifecycle step.
func (r *Emqx4Reconciler) steps() []pipeline.Step[*pass4] {
	return []pipeline.Step[*pass4]{
		{Name: "Validate", Run: r.validate},
		{Name: "Ownership", Run: r.ownership},
		{Name: "Credentials", Run: r.credentials},
		{Name: "LicenseSource", Run: r.licenseSourceStep},
		{Name: "Observe", Run: r.observeStep},
		{Name: "License", Run: r.licenseStep},
		{Name: "Plan", Run: r.planStep},
		{Name: "Apply", Run: r.applyStep},
		{Name: "Certificates", Run: r.certificates},
		{Name: "Execute", Run: r.executeStep},
		{Name: "Converged", Run: r.converged},
	}
}

func (r *Emqx4Reconciler) validate(_ context.Context, p *pass4) (pipeline.Outcome, error) {
	return r.rejectOrNext(p, validation.Emqx4(p.c), nil)
}

// ownership holds the cluster while an older cluster of another kind has its name.
func (r *Emqx4Reconciler) ownership(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	prob, err := r.nameTaken(ctx, p.c)
	return r.rejectOrNext(p, prob, err)
}

func (r *Emqx4Reconciler) credentials(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	var prob *validation.Problem
	var err error
	p.creds, prob, err = r.ensureCredentials(ctx, p.c)
	return r.rejectOrNext(p, prob, err)
}

func (r *Emqx4Reconciler) licenseSourceStep(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	var prob *validation.Problem
	var err error
	p.want, prob, err = r.licenseSource(ctx, p.c, p)
	return r.rejectOrNext(p, prob, err)
}

func (r *Emqx4Reconciler) observeStep(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	return pipeline.Next(), r.observe(ctx, p.c, p.creds, p)
}

func (r *Emqx4Reconciler) licenseStep(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	var err error
	p.mounted, err = r.planLicense(ctx, p.c, p.want, p.creds, p)
	return pipeline.Next(), err
}

func (r *Emqx4Reconciler) planStep(_ context.Context, p *pass4) (pipeline.Outcome, error) {
	p.plan = lifecycle.Decide(lifecycleState4(p.c, p))
	return pipeline.Next(), nil
}

// applyStep applies the desired objects; a changed StatefulSet ends the pass, since it was
// observed before the change and the next pass sees which pods the change made outdated.
func (r *Emqx4Reconciler) applyStep(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	objs, err := desired.Emqx4Objects(r.Renderer, p.c, r.Kind, desired.Emqx4Inputs{
		Replicas: &p.plan.CoreReplicas, License: p.mounted, ProxyEnv: r.ProxyEnv,
	})
	if err != nil {
		return pipeline.Outcome{}, err
	}
	applier := &apply.Applier{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	changes, err := applier.Apply(ctx, p.c, objs)
	var replacing *apply.ReplacePending
	if errors.As(err, &replacing) {
		// Not a failure: the object's deletion wakes the next pass, which creates it again.
		p.applying = true
		return pipeline.WaitFor(pipeline.ObjectReleased, pipeline.ReasonReplacingObject), nil
	}
	if err != nil && !pipeline.NamespaceTerminating(err) {
		r.Recorder.Eventf(p.c, nil, corev1.EventTypeWarning, pipeline.ReasonApplyFailed, "Apply", "%s", err.Error())
	}
	if err != nil {
		return pipeline.Outcome{}, err
	}
	p.applied = true
	if apply.StatefulSetChanged(changes) {
		p.applying = true
		return pipeline.WaitFor(pipeline.Settle, pipeline.ReasonApplying), nil
	}
	return pipeline.Next(), nil
}

func (r *Emqx4Reconciler) certificates(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	return pipeline.Next(), r.planCertificates(ctx, p.c, p.creds, p)
}

func (r *Emqx4Reconciler) executeStep(ctx context.Context, p *pass4) (pipeline.Outcome, error) {
	if err := r.execute(ctx, p.c, p.plan); err != nil {
		r.Recorder.Eventf(p.c, nil, corev1.EventTypeWarning, pipeline.ReasonStepFailed, "Lifecycle", "%s", err.Error())
		return pipeline.Outcome{}, err
	}
	return pipeline.Next(), nil
}

// converged ends the pass: done once no step is left, certificates and licence have reached the
// nodes and every node runs.
func (r *Emqx4Reconciler) converged(_ context.Context, p *pass4) (pipeline.Outcome, error) {
	switch {
	case p.plan.Step.Kind != lifecycle.None || p.plan.Busy || p.plan.Reason != "":
		return pipeline.WaitFor(pipeline.Converging, p.plan.Reason), nil
	case p.certWait > 0:
		// No watch reports the kubelet updating a Secret's files: look again when it should have.
		return pipeline.WaitFor(p.certWait, "CertificatePropagating"), nil
	case p.license.Waiting:
		return pipeline.WaitFor(pipeline.Converging, "LicenseWaitingForNode"), nil
	case !allNodesRunning(p.c, p):
		return pipeline.WaitFor(pipeline.Converging, pipeline.ReasonNodesJoining), nil
	}
	return pipeline.Converged(r.readyResync()), nil
}

// rejectOrNext goes on, or ends the step on an error or a spec problem (recorded and reported).
func (r *Emqx4Reconciler) rejectOrNext(p *pass4, prob *validation.Problem, err error) (pipeline.Outcome, error) {
	switch {
	case err != nil:
		return pipeline.Outcome{}, err
	case prob != nil:
		return r.reject(p.c, p, prob), nil
	}
	return pipeline.Next(), nil
}
