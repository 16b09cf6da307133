package emqx4

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// DefaultSecretPropagation is how long the kubelet may take to update a mounted Secret's files
// (its sync period plus the Secret cache's TTL).
const DefaultSecretPropagation = 90 * time.Second

// planCertificates rolls changed listener certificates out without restarting pods: the Secret
// is updated (by the apply that follows), and once the kubelet has had time to update the files
// on every node, that listener alone is restarted in the whole cluster (one call to one node),
// which makes EMQX 4 re-read them. Only that listener's clients reconnect. A certificate for a
// listener that had none changes the pod template (a new volume), so the pods roll instead.
// It runs after the apply, so "UpdatedAt" never precedes the Secret's update.
func (r *Emqx4Reconciler) planCertificates(ctx context.Context, c v1beta2.Cluster, creds emqxapi.Credentials, p *pass4) error {
	want, err := desired.Emqx4Certificates(c)
	if err != nil {
		return err
	}
	prev := map[string]v1beta2.ListenerCertificate{}
	for _, lc := range c.ClusterStatus().ListenerCertificates {
		prev[lc.Listener] = lc
	}
	now := metav1.Now()
	propagation := r.SecretPropagation
	if propagation == 0 {
		propagation = DefaultSecretPropagation
	}
	p.certs = nil
	for _, listener := range slices.Sorted(maps.Keys(want)) {
		old, known := prev[listener]
		lc := old
		if !known || old.Revision != want[listener] {
			// Nothing runs yet, or the listener is new to the pods: they read the files at start.
			lc = v1beta2.ListenerCertificate{Listener: listener, Revision: want[listener], UpdatedAt: now,
				Restarted: len(p.pods) == 0 || !known}
		}
		if !lc.Restarted {
			if wait := propagation - now.Sub(lc.UpdatedAt.Time); wait > 0 {
				p.certWait = max(p.certWait, wait)
			} else if err := r.restartListener(ctx, c, creds, p, listener); err != nil {
				return err
			} else {
				lc.Restarted = true
			}
		}
		p.certs = append(p.certs, lc)
	}
	return nil
}

func (r *Emqx4Reconciler) restartListener(ctx context.Context, c v1beta2.Cluster, creds emqxapi.Credentials, p *pass4, listener string) error {
	_, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, readyEndpointsV4(p.pods, p.listener.Ports.API),
		func(ctx context.Context, cl *emqxapi.Client) (struct{}, error) {
			return struct{}{}, cl.RestartListenerV4(ctx, listener)
		})
	if err != nil {
		return fmt.Errorf("restarting listener %s for its new certificate: %w", listener, err)
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "ListenerRestarted", "RotateCertificate",
		"listener %s restarted on every node to serve its new certificate (its clients reconnect; other listeners untouched)", listener)
	return nil
}
