package emqx

import (
	"context"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// upgradePath checks an image change against EMQX's rolling-upgrade paths before anything is
// applied: a path EMQX does not support in place (5.x with durable sessions to 6.x, a rollback
// across 6.1.1's durable-storage change, …) would lose data or wedge the cluster halfway, and no
// pod may move for it. A refusal is a spec error naming the rule; the user fixes the image or
// accepts the risk for that release (upgradepath.AcceptAnnotation). A path with a known
// limitation rolls, with a Warning Event: the check sees the change only in the pass that applies
// it (afterwards the StatefulSet carries the new image), so the Event is emitted once.
func (r *EMQXReconciler) upgradePath(_ context.Context, p *pass) (pipeline.Outcome, error) {
	running := emqxImage(p.observed.CoreSet)
	// Tags, not whole references: a registry mirror (watches.yaml's imageRegistry) is no change.
	if running == "" || upgradepath.Tag(running) == upgradepath.Tag(p.e.Spec.Image) {
		return pipeline.Next(), nil // a new cluster, or no image change
	}
	ds, err := durableSessions(p.e)
	if err != nil {
		return r.rejectSpec(p.e, p, &validation.Problem{Reason: validation.ReasonInvalidConfig, Message: err.Error()}), nil
	}
	v := upgradepath.Decide(upgradepath.Change{
		From: upgradepath.OfImage(running), To: upgradepath.OfImage(p.e.Spec.Image),
		DurableSessions: ds, Accepted: p.e.Annotations[upgradepath.AcceptAnnotation],
	})
	switch {
	case v.Refused:
		return r.rejectSpec(p.e, p, &validation.Problem{Reason: v.Rule, Message: "image " + p.e.Spec.Image + ": " + v.Message}), nil
	case v.Warning:
		r.Recorder.Eventf(p.e, nil, corev1.EventTypeWarning, v.Rule, "Upgrade", "image %s: %s", p.e.Spec.Image, v.Message)
	}
	return pipeline.Next(), nil
}

// emqxImage is the image of the EMQX container of a live workload ("" without one).
func emqxImage(s *appsv1.StatefulSet) string {
	if s == nil || len(s.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	for _, c := range s.Spec.Template.Spec.Containers {
		if c.Name == "emqx" {
			return c.Image
		}
	}
	return s.Spec.Template.Spec.Containers[0].Image
}

// durableSessions: spec.config.data enables durable sessions (durable_sessions.enable), or the
// pods' environment does (EMQX_DURABLE_SESSIONS__ENABLE, EMQX's env override of the same key).
func durableSessions(e *v2beta1.EMQX) (bool, error) {
	for _, env := range e.Spec.CoreTemplate.Spec.Env {
		if env.Name == "EMQX_DURABLE_SESSIONS__ENABLE" {
			return strings.EqualFold(strings.TrimSpace(env.Value), "true"), nil
		}
	}
	conf, err := emqxconf.Parse(e.Spec.Config.Data)
	if err != nil {
		return false, err
	}
	v, err := emqxconf.Lookup(conf, "durable_sessions.enable")
	if err != nil || v == nil {
		return false, err
	}
	return strings.EqualFold(strings.Trim(v.String(), `"`), "true"), nil
}
