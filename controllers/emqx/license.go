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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/controllers/refs"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
	"github.com/broker-ops/emqx-operator/internal/licensing"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// userSecret reads a user's Secret (nil when it does not exist). A Secret not watched yet is noted
// on the pass, which labels it watched when its steps are done: from then on the cache holds it and
// a change to it wakes the cluster. The operator caches and watches only the Secrets clusters reference.
func (r *EMQXReconciler) userSecret(ctx context.Context, p *pass, name string) (*corev1.Secret, error) {
	s, unwatched, err := refs.UserSecret(ctx, r.Client, r.APIReader, p.e.Namespace, name)
	if unwatched {
		p.unwatched = append(p.unwatched, s)
	}
	return s, err
}

// userSecretValue reads one key of a user's Secret.
func (r *EMQXReconciler) userSecretValue(ctx context.Context, p *pass, ref v2beta1.KeyRef, field string) (string, *validation.Problem, error) {
	ns := p.e.Namespace
	s, err := r.userSecret(ctx, p, ref.SecretName)
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

// licenseInputs is what the licence decision reads: the key spec.license names and the key in the
// operator's licence Secret, which pods mount.
type licenseInputs struct {
	UserKey       string
	Mounted       string
	MountedExists bool
	// NodesUp: the cluster answered GET /nodes this pass, so a key can be sent to it.
	NodesUp bool
}

// licenseDecision is what this pass does about spec.license.
type licenseDecision struct {
	// Write is the key for the operator's licence Secret ("" when spec.license is unset).
	Write string
	// Apply: the user's key differs from the one in use and must go to EMQX first.
	Apply             bool
	UserKey, Revision string
	// Refused: EMQX already refused this revision (the condition says so): it is not sent again,
	// and the condition stands.
	Refused *metav1.Condition
}

// readLicense gathers the licence decision's inputs.
func (r *EMQXReconciler) readLicense(ctx context.Context, p *pass) (licenseInputs, *validation.Problem, error) {
	e := p.e
	in := licenseInputs{NodesUp: p.observed.NodesErr == nil && len(p.observed.Nodes) > 0}
	key, prob, err := r.userSecretValue(ctx, p, e.Spec.License.SecretRef, "license.secretRef")
	if prob != nil || err != nil {
		return in, prob, err
	}
	in.UserKey = key
	live := &corev1.Secret{}
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.LicenseSecretName()}, live)
	switch {
	case apierrors.IsNotFound(err):
		return in, nil, nil
	case err != nil:
		return in, nil, err
	}
	in.Mounted, in.MountedExists = string(live.Data[values.LicenseKey]), true
	return in, nil, nil
}

// decideLicense: a new key reaches the running cluster through POST /license before it is copied
// into the Secret pods mount. Kubernetes refreshes a mounted Secret in every pod at once and EMQX
// re-reads file:// licences by itself, so a key copied unchecked would reach every node, good or
// bad. A new cluster has no node to ask: its nodes read the key at start-up.
func decideLicense(e *v2beta1.EMQX, in licenseInputs) licenseDecision {
	d := licenseDecision{UserKey: in.UserKey, Revision: emqxconf.Revision(in.UserKey)}
	if !in.MountedExists {
		d.Write = in.UserKey
		return d
	}
	d.Write = in.Mounted
	if in.Mounted == in.UserKey || !in.NodesUp {
		return d
	}
	if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.LicenseValid); c != nil &&
		c.Reason == pipeline.ReasonLicenseRejected && strings.Contains(c.Message, d.Revision) {
		d.Refused = c
		return d
	}
	d.Apply = true
	return d
}

// applyLicense posts the user's key: the License step's effect. A rejected key is reported once per
// revision (decideLicense does not send it again).
func (r *EMQXReconciler) applyLicense(ctx context.Context, e *v2beta1.EMQX, d *licenseDecision, key credentials.APIKey, o *status.Observed, p *pass) error {
	_, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, emqxapi.Credentials{Key: key.Key, Secret: key.Secret}, coreEndpoints(o.Pods),
		func(ctx context.Context, c *emqxapi.Client) (emqxapi.License, error) {
			return c.UpdateLicense(ctx, d.UserKey)
		})
	var apiErr *emqxapi.Error
	if errors.As(err, &apiErr) && apiErr.Status == 400 {
		p.reports.License.Reason = pipeline.ReasonLicenseRejected
		p.reports.License.Message = fmt.Sprintf("EMQX rejected the licence key in Secret %s (revision %s): %s; the running licence stays",
			e.Spec.License.SecretRef.SecretName, d.Revision, apiErr.Message)
		r.warnOnce(e, v2beta1.LicenseValid, p.reports.License.Reason, p.reports.License.Message)
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
	// Read when the health budget allows it or a new key was just sent (Apply), from the node that
	// answered GET /nodes (not a new round over nodes that did not answer); else the last reading.
	if p.health.Read == healthpoll.Everything || p.health.Read == healthpoll.License || d.Apply {
		l, err := r.EMQXClients(o.Answered.BaseURL, emqxapi.Credentials{Key: key.Key, Secret: key.Secret}).License(ctx)
		switch {
		case err == nil:
			p.reading.License = &l
		case emqxapi.IsNotFound(err):
			p.reading.License = nil // CE 5.8: no licence API
		}
		// Any other failure keeps the last licence read: one lost answer must not blank it out
		// for the next ten turns of the health budget.
	}
	if p.reading.License == nil {
		return // CE 5.8 has no licence API; status keeps what is known
	}
	l := *p.reading.License
	p.reports.License = judgeLicense(e, l, d.Write, p.reports.License, time.Now())
	switch {
	case p.reports.License.Reason == "LicenseExpired":
		r.warnOnce(e, v2beta1.LicenseValid, p.reports.License.Reason, p.reports.License.Message)
	case p.reports.License.OKReason == pipeline.ReasonLicenseExpiringSoon:
		if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.LicenseValid); c == nil || c.Reason != pipeline.ReasonLicenseExpiringSoon {
			r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, pipeline.ReasonLicenseExpiringSoon, "License", "%s", p.reports.License.Message)
		}
	}
}

// judgeLicense turns the running licence EMQX reports into the licence report: what runs, and
// whether it expired or expires within the warning days (spec.license.expiryWarningDays, 30 for a
// licence given in config.data or env). Without a licence the user gave, the running one (EMQX's
// default) is only shown. A problem this pass already found (a refused key) stands.
func judgeLicense(e *v2beta1.EMQX, l emqxapi.License, mounted string, found status.LicenseReport, now time.Time) status.LicenseReport {
	rep := found
	rep.Observed = true
	rep.Running = &v2beta1.LicenseStatus{Type: l.Type, Customer: l.Customer, MaxSessions: max(l.MaxSessions, l.MaxConns),
		ExpiryAt: l.ExpiryAt, Expired: l.Expiry}
	if mounted != "" {
		rep.Running.Revision = emqxconf.Revision(mounted)
	}
	if rep.Reason != "" || licensing.Source(e) == "" {
		return rep
	}
	warnDays := licensing.ExpiryWarningDays(e)
	expiry, err := time.Parse("2006-01-02", l.ExpiryAt)
	days := int(expiry.Sub(now).Hours() / 24)
	switch {
	case l.Expiry:
		rep.Reason, rep.Message = "LicenseExpired", fmt.Sprintf("the licence expired on %s", l.ExpiryAt)
	case l.Type == "community" && e.CoreReplicas()+e.ReplicantReplicas() > 1:
		// A key the operator could not see before EMQX read it (spec.license's Secret) turned out
		// single-node: the nodes beyond the first will not join (emqx6-behaviour.md §2).
		rep.Reason, rep.Message = licensing.ReasonSingleNode, fmt.Sprintf(
			"the licence from %s is EMQX's single-node community licence: a cluster of %d nodes does not form; give a licence for clustering",
			licensing.Source(e), e.CoreReplicas()+e.ReplicantReplicas())
	case err == nil && days < warnDays:
		rep.OKReason = pipeline.ReasonLicenseExpiringSoon
		rep.Message = fmt.Sprintf("the licence expires on %s, in %d days (warning at %d days)", l.ExpiryAt, days, warnDays)
	case l.Type == "trial" && max(l.MaxSessions, l.MaxConns) <= 25:
		rep.OKReason = licensing.ReasonEvaluation
		rep.Message = fmt.Sprintf("the licence from %s is EMQX's evaluation key: at most %d sessions, for trials only", licensing.Source(e), max(l.MaxSessions, l.MaxConns))
	}
	return rep
}
