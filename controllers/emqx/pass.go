package emqx

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// pass is one reconcile of one cluster: what the steps gathered for the steps after them, and the
// typed report each step writes. The status is assembled once, from the reports, at the end.
type pass struct {
	// e is the cluster with the API's defaults.
	e *v2beta1.EMQX

	// Gathered by the steps, for the steps after them.
	operatorKey credentials.APIKey // the key this pass calls EMQX with
	ownKey      credentials.APIKey // the operator's key in the bootstrap file (differs while adopting)
	userKeys    []credentials.APIKey
	foreignSets []appsv1.ReplicaSet
	observed    *status.Observed
	evacs       []emqxapi.Evacuation
	lic         licenseDecision
	tlsPlan     tlsDecision
	conf        configChange
	plan        lifecycle.Plan
	// unwatched are users' Secrets read past the cache: labelled watched once the steps are done.
	unwatched []*corev1.Secret
	// objectsChanged: the apply step changed a StatefulSet (observed before the change).
	objectsChanged bool

	// Reports, one per concern; each is written by its steps only.
	spec      specReport
	paused    bool
	license   licenseReport
	tls       tlsReport
	config    configReport
	progress  progressReport
	apply     applyReport
	restore   restoreReport
	admission admissionReport
}

// specReport: a spec error (reason, message) that stopped the pass before anything was applied.
type specReport struct{ Reason, Message string }

// admissionReport: why the API server or a kubelet refuses the cluster's pods.
type admissionReport struct{ Reason, Message string }

// applyReport: whether the desired objects were applied, or why not.
type applyReport struct {
	Applied bool
	Error   string
}

// progressReport: what the lifecycle layer is doing or waiting for; Busy while a scale-in or
// rolling update is under way.
type progressReport struct {
	Role, Reason, Message string
	Busy                  bool
}

// licenseReport: the running licence and what is wrong with it. Observed: this pass asked EMQX;
// otherwise the previous status stands.
type licenseReport struct {
	Observed                  bool
	Running                   *v2beta1.LicenseStatus
	Reason, OKReason, Message string
}

// tlsReport: the certificate in use and how many nodes serve it. OK: every node serves it;
// Reason/Message say why not. Neither OK nor Reason: not looked at, the previous status stands.
type tlsReport struct {
	Served          *v2beta1.TLSStatus
	OK, Rotating    bool
	Reason, Message string
}

// configReport: the config revision the running cluster has accepted.
type configReport struct{ AppliedRevision string }

// restoreReport: the restore of spec.restoreFrom as this pass saw it (nil: not looked at).
type restoreReport struct {
	Status  *v2beta1.RestoreStatus
	Message string
}

// problems assembles the reports into status.Compute's input: the one place where what the pass
// learned becomes status content.
func (p *pass) problems() status.Problems {
	return status.Problems{
		ConfigReason: p.spec.Reason, ConfigMessage: p.spec.Message,
		AdmissionReason: p.admission.Reason, AdmissionMessage: p.admission.Message,
		ApplyError: p.apply.Error, Applied: p.apply.Applied,
		ProgressRole: p.progress.Role, ProgressReason: p.progress.Reason, ProgressMessage: p.progress.Message,
		Busy: p.progress.Busy, Paused: p.paused,
		AppliedConfigRevision: p.config.AppliedRevision,
		License:               p.license.Running, LicenseReason: p.license.Reason, LicenseOKReason: p.license.OKReason,
		LicenseMessage: p.license.Message, LicenseObserved: p.license.Observed,
		TLS: p.tls.Served, TLSOK: p.tls.OK, TLSRotating: p.tls.Rotating, TLSReason: p.tls.Reason, TLSMessage: p.tls.Message,
		Restore: p.restore.Status, RestoreMessage: p.restore.Message,
	}
}
