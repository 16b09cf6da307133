package emqx4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// licenseState4 is what the operator knows about an EMQX 4 cluster's licence.
type licenseState4 struct {
	// InEffect and Rejected are revisions (hashes of the licence file, never the licence).
	InEffect, Rejected string
	// RejectMessage is why EMQX refused the rejected licence.
	RejectMessage string
	// Waiting: a new licence waits for a node that answers to load it.
	Waiting bool
}

func licenseRevision(lic []byte) string {
	sum := sha256.Sum256(bytes.TrimSpace(lic))
	return hex.EncodeToString(sum[:])[:16]
}

// planLicense decides which licence file the pods mount, and loads a changed one into the running
// cluster first. EMQX 4 reads its licence file at start-up only: a new one is uploaded to one node
// (POST /api/v4/license/upload), which validates it and loads it on every node without a restart.
// Safety gate: the licence Secret the pods mount is updated only after EMQX accepted the licence,
// so a node that restarts never starts with a licence the cluster refused.
func (r *Emqx4Reconciler) planLicense(ctx context.Context, c v1beta2.Cluster, want []byte, creds emqxapi.Credentials, p *pass4) ([]byte, error) {
	if want == nil {
		p.license.InEffect, p.license.Rejected = "", ""
		return nil, nil
	}
	live := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.GetNamespace(), Name: v1beta2.LicenseSecretName(c)}, live)
	var mounted []byte
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		mounted = live.Data[v1beta2.LicenseKey]
	}
	rev := licenseRevision(want)
	if mounted != nil && bytes.Equal(mounted, want) {
		p.license.InEffect, p.license.Rejected = rev, ""
		return want, nil
	}
	if rev == p.license.Rejected {
		// Refused already: not offered again until the spec's licence changes.
		p.license.RejectMessage = rejectedMessage(c)
		return mounted, nil
	}
	if len(p.pods) == 0 {
		// Nothing runs that could load it: the first pods read the file at start-up.
		p.license.InEffect = rev
		return want, nil
	}
	eps := readyEndpointsV4(p.pods, p.listener.Ports.API)
	if len(eps) == 0 || p.nodesErr != nil {
		p.license.Waiting = true
		return mounted, nil
	}
	_, err = emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, eps, func(ctx context.Context, cl *emqxapi.Client) (struct{}, error) {
		return struct{}{}, cl.UploadLicenseV4(ctx, string(want))
	})
	var apiErr *emqxapi.Error
	// A refusal is EMQX's answer about the licence: an error code, or a 4xx other than a refused
	// management secret. Unreachable nodes and 5xx are retried.
	if errors.As(err, &apiErr) && apiErr.Status != http.StatusUnauthorized && apiErr.Status/100 != 5 {
		p.license.Rejected, p.license.RejectMessage = rev, fmt.Sprintf("EMQX refused the licence (revision %s): %s", rev, apiErr.Error())
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, pipeline.ReasonLicenseRejected, "LoadLicense", "%s", p.license.RejectMessage)
		return mounted, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading the new licence: %w", err)
	}
	p.license.InEffect, p.license.Rejected = rev, ""
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "LicenseReloaded", "LoadLicense",
		"licence revision %s loaded into the running cluster without a restart", rev)
	return want, nil
}

func rejectedMessage(c v1beta2.Cluster) string {
	for _, cond := range c.ClusterStatus().Conditions {
		if cond.Type == v1beta2.ConditionFailed && cond.Reason == pipeline.ReasonLicenseRejected {
			return cond.Message
		}
	}
	return "EMQX refused the licence"
}
