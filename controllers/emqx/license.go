package emqx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/controllers/refs"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// userSecret reads a user's Secret (nil when it does not exist). The Secret is labelled watched
// the first time, so from then on the cache holds it and a change to it triggers a reconcile: the
// operator caches and watches only the Secrets clusters reference.
func (r *EMQXReconciler) userSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return refs.ReadUserSecret(ctx, r.Client, r.APIReader, ns, name)
}

// userSecretValue reads one key of a user's Secret.
func (r *EMQXReconciler) userSecretValue(ctx context.Context, ns string, ref v2beta1.KeyRef, field string) (string, *validation.Problem, error) {
	s, err := r.userSecret(ctx, ns, ref.SecretName)
	if err != nil {
		return "", nil, err
	}
	if s == nil {
		return "", secretNotFound(field, ns, ref.SecretName), nil
	}
	v, ok := s.Data[ref.SecretKey]
	if !ok {
		return "", &validation.Problem{Reason: validation.ReasonSecretNotFound, Retry: true,
			Message: fmt.Sprintf("%s: Secret %s has no key %q", field, ref.SecretName, ref.SecretKey)}, nil
	}
	return strings.TrimSpace(string(v)), nil, nil
}

func secretNotFound(field, ns, name string) *validation.Problem {
	return &validation.Problem{Reason: validation.ReasonSecretNotFound, Retry: true,
		Message: fmt.Sprintf("%s: Secret %s not found in namespace %s", field, name, ns)}
}

// licenseDecision is what this pass does about spec.license.
type licenseDecision struct {
	// Write is the key for the operator's licence Secret ("" when spec.license is unset).
	Write string
	// Apply: the user's key differs from the one in use and must go to EMQX first.
	Apply             bool
	UserKey, Revision string
}

// planLicense: a new key reaches the running cluster through POST /license before it is copied
// into the Secret pods mount. Kubernetes refreshes a mounted Secret in every pod at once and EMQX
// re-reads file:// licences by itself, so a key copied unchecked would reach every node, good or bad.
func (r *EMQXReconciler) planLicense(ctx context.Context, e *v2beta1.EMQX, o *status.Observed) (licenseDecision, *validation.Problem, error) {
	var d licenseDecision
	if e.Spec.License == nil {
		return d, nil, nil
	}
	key, prob, err := r.userSecretValue(ctx, e.Namespace, e.Spec.License.SecretRef, "license.secretRef")
	if prob != nil || err != nil {
		return d, prob, err
	}
	d.UserKey, d.Revision = key, emqxconf.Revision(key)
	live := &corev1.Secret{}
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.LicenseSecretName()}, live)
	switch {
	case apierrors.IsNotFound(err):
		// A new cluster: there is no node to ask yet; nodes read the key at start-up.
		d.Write = key
	case err != nil:
		return d, nil, err
	default:
		current := string(live.Data[values.LicenseKey])
		d.Write = current
		if current != key && o.NodesErr == nil && len(o.Nodes) > 0 {
			d.Apply = true
		}
	}
	return d, nil, nil
}

// applyLicense posts the user's key. Rejected keys are reported once per revision and not re-sent.
func (r *EMQXReconciler) applyLicense(ctx context.Context, e *v2beta1.EMQX, d *licenseDecision, key credentials.APIKey, o *status.Observed, p *pass) error {
	if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.LicenseValid); c != nil &&
		c.Reason == pipeline.ReasonLicenseRejected && strings.Contains(c.Message, d.Revision) {
		p.problems.LicenseReason, p.problems.LicenseMessage = c.Reason, c.Message
		return nil
	}
	_, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, emqxapi.Credentials{Key: key.Key, Secret: key.Secret}, coreEndpoints(o.Pods),
		func(ctx context.Context, c *emqxapi.Client) (emqxapi.License, error) {
			return c.UpdateLicense(ctx, d.UserKey)
		})
	var apiErr *emqxapi.Error
	if errors.As(err, &apiErr) && apiErr.Status == 400 {
		p.problems.LicenseReason = pipeline.ReasonLicenseRejected
		p.problems.LicenseMessage = fmt.Sprintf("EMQX rejected the licence key in Secret %s (revision %s): %s; the running licence stays",
			e.Spec.License.SecretRef.SecretName, d.Revision, apiErr.Message)
		r.warnOnce(e, v2beta1.LicenseValid, p.problems.LicenseReason, p.problems.LicenseMessage)
		return nil
	}
	if err != nil {
		return fmt.Errorf("applying the licence: %w", err)
	}
	d.Write = d.UserKey
	r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "LicenseUpdated", "License",
		"licence revision %s applied to the running cluster (no restart)", d.Revision)
	return nil
}

// observeLicense reads the running licence into status and warns before it expires.
func (r *EMQXReconciler) observeLicense(ctx context.Context, e *v2beta1.EMQX, key credentials.APIKey, o *status.Observed, d licenseDecision, p *pass) {
	if o.NodesErr != nil {
		return // status keeps what an earlier pass saw
	}
	// The node that just answered GET /nodes, not a new round over nodes that did not answer.
	l, err := r.EMQXClients(o.Answered.BaseURL, emqxapi.Credentials{Key: key.Key, Secret: key.Secret}).License(ctx)
	if err != nil {
		return // CE 5.8 has no licence API; status keeps what is known
	}
	p.problems.LicenseObserved = true
	p.problems.License = &v2beta1.LicenseStatus{Type: l.Type, Customer: l.Customer, MaxSessions: max(l.MaxSessions, l.MaxConns),
		ExpiryAt: l.ExpiryAt, Expired: l.Expiry, Revision: emqxconf.Revision(d.Write)}
	if d.Write == "" {
		p.problems.License.Revision = ""
	}
	if p.problems.LicenseReason != "" || e.Spec.License == nil {
		return
	}
	expiry, err := time.Parse("2006-01-02", l.ExpiryAt)
	days := int(time.Until(expiry).Hours() / 24)
	switch {
	case l.Expiry:
		p.problems.LicenseReason, p.problems.LicenseMessage = "LicenseExpired", fmt.Sprintf("the licence expired on %s", l.ExpiryAt)
		r.warnOnce(e, v2beta1.LicenseValid, p.problems.LicenseReason, p.problems.LicenseMessage)
	case err == nil && days < int(e.Spec.License.ExpiryWarningDays):
		p.problems.LicenseOKReason = pipeline.ReasonLicenseExpiringSoon
		p.problems.LicenseMessage = fmt.Sprintf("the licence expires on %s, in %d days (warning at %d days)", l.ExpiryAt, days, e.Spec.License.ExpiryWarningDays)
		if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.LicenseValid); c == nil || c.Reason != pipeline.ReasonLicenseExpiringSoon {
			r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, pipeline.ReasonLicenseExpiringSoon, "License", "%s", p.problems.LicenseMessage)
		}
	}
}
