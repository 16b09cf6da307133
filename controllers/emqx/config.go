package emqx

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// configChange is what the reconcile does about spec.config.data this pass.
type configChange struct {
	// Text and Revision are the spec's emqx.conf.
	Text, Revision string
	// Hold is the emqx.conf to keep writing while the cluster has not accepted Text (nil: write Text).
	Hold *string
	// Pending: Text must be applied to the running cluster through the API.
	Pending bool
	// Rejected: EMQX already refused this revision; do not send it again.
	Rejected bool
}

// configInputs is what the config decision reads: the emqx.conf in the cluster's ConfigMap (what
// nodes read when they start) and whether nodes answer.
type configInputs struct {
	Live       string
	LiveExists bool
	NodesUp    bool
}

// readConfig gathers the config decision's inputs.
func (r *EMQXReconciler) readConfig(ctx context.Context, p *pass) (configInputs, error) {
	in := configInputs{NodesUp: p.observed.NodesErr == nil && len(p.observed.Nodes) > 0}
	cm := &corev1.ConfigMap{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: p.e.Namespace, Name: p.e.ConfigMapName()}, cm)
	if apierrors.IsNotFound(err) {
		return in, nil
	}
	if err != nil {
		return in, err
	}
	in.Live, in.LiveExists = cm.Data["emqx.conf"], true
	return in, nil
}

// decideConfig decides how a config change reaches the cluster, and which revision the running
// cluster has accepted. A running cluster gets it through PUT /configs first; the ConfigMap (read
// by nodes when they start) keeps the text the cluster accepted until then, so a restarting node
// never boots with a config EMQX rejected. A cluster with no node answering (being created) gets
// the file directly.
func decideConfig(e *v2beta1.EMQX, in configInputs) (configChange, status.ConfigReport) {
	c := configChange{Text: values.EMQXConf(e)}
	c.Revision = emqxconf.Revision(c.Text)
	rep := status.ConfigReport{AppliedRevision: e.Status.AppliedConfigRevision}
	if e.Status.AppliedConfigRevision == c.Revision || !in.LiveExists {
		return c, rep
	}
	switch {
	case in.Live == c.Text:
		// The nodes started with this text: it is what they run.
		if in.NodesUp {
			rep.AppliedRevision = c.Revision
		}
	case in.NodesUp:
		live := in.Live
		c.Hold, c.Pending = &live, true
		if cond := meta.FindStatusCondition(e.Status.Conditions, v2beta1.ConfigValid); cond != nil &&
			cond.Reason == pipeline.ReasonConfigRejected && strings.Contains(cond.Message, c.Revision) {
			c.Rejected = true
		}
	}
	return c, rep
}

// applyConfig sends the spec's config to the running cluster. It returns a Problem when EMQX
// rejects it (the running config stays as it was).
func (r *EMQXReconciler) applyConfig(ctx context.Context, e *v2beta1.EMQX, c configChange, key credentials.APIKey, o *status.Observed) (*validation.Problem, error) {
	_, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, emqxapi.Credentials{Key: key.Key, Secret: key.Secret}, coreEndpoints(o.Pods),
		func(ctx context.Context, cl *emqxapi.Client) (struct{}, error) {
			return struct{}{}, cl.PutConfigs(ctx, c.Text, e.Spec.Config.Mode == "Replace")
		})
	var apiErr *emqxapi.Error
	if errors.As(err, &apiErr) && apiErr.Status == 400 {
		return &validation.Problem{Reason: pipeline.ReasonConfigRejected, Message: fmt.Sprintf(
			"EMQX rejected spec.config.data (revision %s); the running configuration is unchanged: %s", c.Revision, apiErr.Message)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("applying the configuration: %w", err)
	}
	r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "ConfigApplied", "Configure",
		"configuration revision %s applied to the running cluster", c.Revision)
	return nil, nil
}
