// Package refs holds what the cluster reconcilers share about the objects around a cluster: the
// Secrets the operator generates for it, the users' Secrets it references, and the one name that
// clusters of different kinds cannot share.
package refs

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// EnsureGeneratedSecret creates a generated Secret if it does not exist and returns the Secret
// that exists, never rewriting one: a new cookie would split the cluster and a new key would lock
// the operator out until every pod restarted. c reads the cache and writes; live reads past it.
func EnsureGeneratedSecret(ctx context.Context, c client.Client, live client.Reader, rec events.EventRecorder,
	owner client.Object, ref metav1.OwnerReference, s *corev1.Secret) (*corev1.Secret, error) {
	got := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKeyFromObject(s), got)
	if !apierrors.IsNotFound(err) {
		return got, err
	}
	s.OwnerReferences = append(s.OwnerReferences, ref)
	switch err := c.Create(ctx, s); {
	case err == nil:
		rec.Eventf(owner, s, corev1.EventTypeNormal, "Created", "Generate", "Secret %s created", s.Name)
		return s, nil
	case apierrors.IsAlreadyExists(err):
		// It exists but the cache does not show it yet (or lost its label): use what is there,
		// never the value just generated.
		return got, live.Get(ctx, client.ObjectKeyFromObject(s), got)
	default:
		return nil, fmt.Errorf("creating Secret %s: %w", s.Name, err)
	}
}

// SecretNotOurs is the problem of a Secret of a generated name that lacks one of the generated
// keys: someone else made it (the vendor's operator names its cookie Secret as this one does),
// and pods mounting it would not start.
func SecretNotOurs(generated, live *corev1.Secret) *validation.Problem {
	for k := range generated.Data {
		if len(live.Data[k]) == 0 {
			return &validation.Problem{Reason: pipeline.ReasonSecretNotOurs, Retry: true, Message: fmt.Sprintf(
				"Secret %s exists without the key %s, so it was not made by this operator (the vendor's emqx-operator uses "+
					"the same name); delete it to have one generated, or add the key", live.Name, k)}
		}
	}
	return nil
}

// UserSecret reads a Secret a cluster references (nil when it does not exist): from the cache when
// it is labelled watched, else past the cache. unwatched: it exists but is not labelled yet; the
// reconciler asks for the label (WatchSecrets) once its steps are done. Reading changes nothing.
func UserSecret(ctx context.Context, cache, live client.Reader, ns, name string) (s *corev1.Secret, unwatched bool, err error) {
	s = &corev1.Secret{}
	key := client.ObjectKey{Namespace: ns, Name: name}
	err = cache.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		err = live.Get(ctx, key, s)
		unwatched = err == nil
	}
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return s, unwatched, nil
}

// WatchSecrets labels users' Secrets watched: from then on the manager's cache holds them (it holds
// no other Secret of the cluster) and a change to one wakes the clusters that reference it.
func WatchSecrets(ctx context.Context, c client.Client, secrets []*corev1.Secret) error {
	patch := []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, v2beta1.LabelWatched))
	var errs []error
	for _, s := range secrets {
		if err := c.Patch(ctx, s, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("labelling Secret %s to watch it: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// NameInUse is the problem of a cluster whose name an older cluster of another kind holds. It is
// retried: deleting the other cluster frees the name, and no watch reports that here.
func NameInUse(kind string, o client.Object) *validation.Problem {
	return &validation.Problem{Reason: pipeline.ReasonNameInUse, Retry: true, Message: fmt.Sprintf(
		"an %s named %s already exists in namespace %s; clusters of different kinds need different names", kind, o.GetName(), o.GetNamespace())}
}

// OlderSameName returns the kind of a cluster of another kind with o's name that was created
// before o ("" when there is none). On a tie the kinds' names decide, so exactly one of two
// clusters created in the same second goes ahead.
func OlderSameName(ctx context.Context, c client.Client, o client.Object, ownKind string) (string, error) {
	candidates := map[string]client.Object{
		"EMQX": &v2beta1.EMQX{}, "EmqxEnterprise": &v1beta2.EmqxEnterprise{}, "EmqxBroker": &v1beta2.EmqxBroker{},
	}
	for _, kind := range []string{"EMQX", "EmqxBroker", "EmqxEnterprise"} {
		if kind == ownKind {
			continue
		}
		other := candidates[kind]
		err := c.Get(ctx, client.ObjectKeyFromObject(o), other)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		oc, mc := other.GetCreationTimestamp(), o.GetCreationTimestamp()
		if oc.Before(&mc) || (oc.Equal(&mc) && kind < ownKind) {
			return kind, nil
		}
	}
	return "", nil
}
