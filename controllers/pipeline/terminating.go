package pipeline

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// NamespaceTerminating reports whether err (or an error it wraps or joins) is the API server's
// refusal to create anything in a namespace being deleted. Such a pass has nothing left to do:
// the namespace's deletion removes the cluster and everything made for it, so retrying, a Warning
// Event (refused too) or a status saying the apply failed would only add load while it goes.
func NamespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}
