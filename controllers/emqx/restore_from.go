package emqx

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/desired"
)

// followRestore makes and follows the restore of spec.restoreFrom. The restore is created once:
// status.restore records it, and its name is fixed, so neither a lost status write nor a
// deleted EMQXRestore makes the operator import a second time.
func (r *EMQXReconciler) followRestore(ctx context.Context, e *v2beta1.EMQX, p *pass) error {
	if e.Spec.RestoreFrom == nil {
		return nil
	}
	name := e.InitialRestoreName()
	if e.Status.Restore != nil && (e.Status.Restore.Phase == v2beta1.BackupSucceeded || e.Status.Restore.Phase == v2beta1.BackupFailed) {
		return nil // final: status.restore stands
	}
	rs := &v2beta1.EMQXRestore{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, rs)
	switch {
	case apierrors.IsNotFound(err) && e.Status.Restore != nil:
		// Recorded, then deleted by someone: never made again.
		p.reports.Restore.Saw(v2beta1.RestoreStatus{Name: name, Phase: v2beta1.BackupFailed},
			"EMQXRestore "+name+" was deleted before it finished; the operator does not import twice")
		return nil
	case apierrors.IsNotFound(err):
		rs = &v2beta1.EMQXRestore{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: name, Labels: e.SelectorLabels(),
				OwnerReferences: []metav1.OwnerReference{desired.OwnerReference(e)}},
			Spec: v2beta1.EMQXRestoreSpec{ClusterName: e.Name, BackupName: e.Spec.RestoreFrom.BackupName},
		}
		if err := r.Client.Create(ctx, rs); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating EMQXRestore %s: %w", name, err)
		}
		r.Recorder.Eventf(e, rs, corev1.EventTypeNormal, "RestoreCreated", "Restore",
			"EMQXRestore %s will import backup %s once the core nodes have joined", name, e.Spec.RestoreFrom.BackupName)
		p.reports.Restore.Saw(v2beta1.RestoreStatus{Name: name, Phase: v2beta1.BackupPending},
			"importing backup "+e.Spec.RestoreFrom.BackupName+" once the core nodes have joined")
		return nil
	case err != nil:
		return err
	}
	phase := rs.Status.Phase
	if phase == "" {
		phase = v2beta1.BackupPending
	}
	msg := rs.Status.Message
	if msg == "" {
		msg = "importing backup " + e.Spec.RestoreFrom.BackupName
	}
	p.reports.Restore.Saw(v2beta1.RestoreStatus{Name: name, Phase: phase}, msg)
	return nil
}
