package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// ensureGeneratedSecret creates a generated Secret if it does not exist and returns the Secret
// that exists, never rewriting one: a new cookie would split the cluster and a new key would lock
// the operator out until every pod restarted. c reads the cache and writes; live reads past it.
func ensureGeneratedSecret(ctx context.Context, c client.Client, live client.Reader, rec events.EventRecorder,
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

// secretNotOurs is the problem of a Secret of a generated name that lacks one of the generated
// keys: someone else made it (the vendor's operator names its cookie Secret as this one does),
// and pods mounting it would not start.
func secretNotOurs(generated, live *corev1.Secret) *validation.Problem {
	for k := range generated.Data {
		if len(live.Data[k]) == 0 {
			return &validation.Problem{Reason: pipeline.ReasonSecretNotOurs, Retry: true, Message: fmt.Sprintf(
				"Secret %s exists without the key %s, so it was not made by this operator (the vendor's emqx-operator uses "+
					"the same name); delete it to have one generated, or add the key", live.Name, k)}
		}
	}
	return nil
}
