package pipeline

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PatchStatus is every reconciler's one status write: updated is current with the new status.
// Nothing is written when nothing changed. The patch carries current's resourceVersion, so it
// never writes over a status it has not seen.
//
// One conflict policy for every kind: a conflict means the cache had not yet delivered the
// previous pass's own write, so the pass is run again shortly with the fresh object (a Wait, not an
// error that would back off exponentially); an object deleted meanwhile has no status left to
// report.
func PatchStatus(ctx context.Context, c client.Client, current, updated client.Object) (Outcome, error) {
	if equality.Semantic.DeepEqual(current, updated) {
		return Next(), nil
	}
	err := c.Status().Patch(ctx, updated, client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{}))
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return Next(), nil
	case apierrors.IsConflict(err):
		return WaitFor(StatusConflict, ReasonStatusConflict), nil
	default:
		return Outcome{}, err
	}
}

// AfterStatusWrite is how a pass ends once its status was written: errors of both are returned
// together; a status conflict on a pass without an error replaces the pass's outcome (its status is
// not recorded, so it runs again soon).
func AfterStatusWrite(pass Outcome, passErr error, write Outcome, writeErr error) (Outcome, error) {
	if err := errors.Join(passErr, writeErr); err != nil {
		return pass, err
	}
	if write.Stops() {
		return write, nil
	}
	return pass, nil
}
