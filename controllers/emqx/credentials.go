package emqx

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/refs"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// generatedKeys are the API keys of the generated Secrets: the operator's own, and Prometheus's
// scrape key while spec.monitoring.podMonitor is set (nil otherwise).
type generatedKeys struct {
	operator credentials.APIKey
	scrape   *credentials.APIKey
}

// ensureGenerated creates the generated Secrets that do not exist yet and returns their API keys.
// Existing Secrets are never rewritten: a new cookie would split the cluster and a new key would
// lock the operator out until every pod restarted. For the same reason a deleted API key Secret is
// made again with the secret the bootstrap Secret (the file the nodes read at start) still holds.
func (r *EMQXReconciler) ensureGenerated(ctx context.Context, e *v2beta1.EMQX) (generatedKeys, *validation.Problem, error) {
	generated, err := credentials.Generated(e, credentials.Reader)
	if err != nil {
		return generatedKeys{}, nil, err
	}
	// A key Secret deleted while the cluster runs comes back with the secret the nodes hold.
	bootstrap := &corev1.Secret{}
	switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.BootstrapSecretName()}, bootstrap); {
	case apierrors.IsNotFound(err):
		bootstrap = nil
	case err != nil:
		return generatedKeys{}, nil, fmt.Errorf("reading Secret %s: %w", e.BootstrapSecretName(), err)
	}
	credentials.Recover(e, generated, bootstrap)
	owner := desired.OwnerReference(e)
	var keys generatedKeys
	for _, s := range generated {
		live, err := refs.EnsureGeneratedSecret(ctx, r.Client, r.APIReader, r.Recorder, e, owner, s)
		if err != nil {
			return keys, nil, err
		}
		if s.Name == e.CookieSecretName() && adopting(e) {
			if live, err = r.adoptVendorCookie(ctx, e, live); err != nil {
				return keys, nil, err
			}
		}
		if prob := refs.SecretNotOurs(s, live); prob != nil {
			return keys, prob, nil
		}
		switch s.Name {
		case e.OperatorKeySecretName():
			keys.operator = credentials.APIKey{
				Key:    string(live.Data[values.OperatorKeyKey]),
				Secret: string(live.Data[values.OperatorSecretKey]),
			}
		case e.ScrapeKeySecretName():
			keys.scrape = &credentials.APIKey{
				Key:    string(live.Data[credentials.ScrapeUsernameKey]),
				Secret: string(live.Data[credentials.ScrapePasswordKey]),
			}
		}
	}
	return keys, nil, nil
}

// userKeys resolves spec.bootstrapAPIKeys. Referenced Secrets are labelled watched, so the cache
// holds them (and only them) and a change to one triggers a reconcile.
func (r *EMQXReconciler) userKeys(ctx context.Context, p *pass) ([]credentials.APIKey, *validation.Problem, error) {
	e := p.e
	var out []credentials.APIKey
	for i, k := range e.Spec.BootstrapAPIKeys {
		if k.SecretRef == nil {
			out = append(out, credentials.APIKey{Key: k.Key, Secret: k.Secret})
			continue
		}
		key, prob, err := r.userSecretValue(ctx, p, k.SecretRef.Key, fmt.Sprintf("bootstrapAPIKeys[%d].secretRef.key", i))
		if prob != nil || err != nil {
			return nil, prob, err
		}
		secret, prob, err := r.userSecretValue(ctx, p, k.SecretRef.Secret, fmt.Sprintf("bootstrapAPIKeys[%d].secretRef.secret", i))
		if prob != nil || err != nil {
			return nil, prob, err
		}
		if prob := validation.BootstrapKey(key, secret, i); prob != nil {
			return nil, prob, nil
		}
		out = append(out, credentials.APIKey{Key: key, Secret: secret})
	}
	return out, nil, nil
}

// The vendor's emqx-operator: its cookie Secret (<name>-node-cookie, the same name as ours) holds
// the cookie under this key, and its bootstrap Secret the key it calls EMQX with.
const (
	vendorCookieKey          = "node_cookie"
	vendorBootstrapKey       = "bootstrap_api_key"
	vendorOperatorAPIKeyName = "emqx-operator-controller"
)

// adoptVendorCookie gives the vendor's cookie Secret this operator's key with the same cookie, so
// the nodes this operator starts join the running ones (a new cookie would split the cluster).
// The vendor's key stays; the Secret is labelled watched so the cache holds it from now on.
func (r *EMQXReconciler) adoptVendorCookie(ctx context.Context, e *v2beta1.EMQX, live *corev1.Secret) (*corev1.Secret, error) {
	vendor, ok := live.Data[vendorCookieKey]
	if !ok || len(live.Data[values.CookieKey]) > 0 {
		return live, nil
	}
	updated := live.DeepCopy()
	updated.Data[values.CookieKey] = vendor
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	updated.Labels[v2beta1.LabelWatched] = "true"
	if err := r.Client.Update(ctx, updated); err != nil {
		return nil, fmt.Errorf("giving the vendor's cookie Secret %s this operator's key: %w", live.Name, err)
	}
	r.Recorder.Eventf(e, updated, corev1.EventTypeNormal, "AdoptingWorkloads", "Adopt",
		"Secret %s: the running nodes' cookie kept for the nodes this operator starts", live.Name)
	return updated, nil
}

// vendorAPIKey reads the key the vendor's operator bootstrapped its nodes with (Secret
// <name>-bootstrap-api-key, line emqx-operator-controller:<secret>). It is read past the cache,
// only while the nodes refuse this operator's own key during an adoption.
func (r *EMQXReconciler) vendorAPIKey(ctx context.Context, e *v2beta1.EMQX) (credentials.APIKey, bool, error) {
	s := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.Name + "-bootstrap-api-key"}, s)
	if apierrors.IsNotFound(err) {
		return credentials.APIKey{}, false, nil
	}
	if err != nil {
		return credentials.APIKey{}, false, err
	}
	for _, line := range strings.Split(string(s.Data[vendorBootstrapKey]), "\n") {
		if secret, ok := strings.CutPrefix(strings.TrimSpace(line), vendorOperatorAPIKeyName+":"); ok && secret != "" {
			return credentials.APIKey{Key: vendorOperatorAPIKeyName, Secret: secret}, true, nil
		}
	}
	return credentials.APIKey{}, false, nil
}
