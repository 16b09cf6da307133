package status

import v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"

// Reports is what one reconcile pass learned, one typed report per concern, each written by the
// steps of its concern only. Compute turns them into the status. A concern a pass may stop before
// looking at carries an explicit Observed flag: false means "not looked at this pass", and the
// previous status of that concern stands (a pass that stops early must not flip what an earlier
// one saw).
type Reports struct {
	Spec      SpecReport
	Admission AdmissionReport
	Apply     ApplyReport
	Progress  ProgressReport
	// Paused: the pause annotation holds every change back.
	Paused  bool
	Config  ConfigReport
	License LicenseReport
	TLS     TLSReport
	Restore RestoreReport
	DS      DSReport
	Plugins PluginsReport
	// Monitoring: spec.monitoring.podMonitor.
	Monitoring MonitoringReport
}

// MonitoringReport: the PodMonitor of spec.monitoring as this pass saw it. Observed: this pass
// judged it, OK or Reason/Message why not; a pass that did not look keeps the previous condition.
// Removed: the spec no longer asks for one and this pass made sure the cluster's PodMonitor is
// gone. Until then the condition stays: it is what tells the next pass there may be one to delete.
type MonitoringReport struct {
	Observed, OK, Removed bool
	Reason, Message       string
}

// SpecReport: a spec error (reason, message) that stopped the pass before anything was applied.
type SpecReport struct{ Reason, Message string }

// AdmissionReport: why the API server or a kubelet refuses the cluster's pods.
type AdmissionReport struct{ Reason, Message string }

// ApplyReport: whether the desired objects were applied, or why not.
type ApplyReport struct {
	Applied bool
	Error   string
}

// ProgressReport: what the lifecycle layer is doing or waiting for (scale-in, rolling update);
// Busy while a scale-in or rolling update is under way.
type ProgressReport struct {
	Role, Reason, Message string
	Busy                  bool
}

// ConfigReport: the config revision the running cluster has accepted.
type ConfigReport struct{ AppliedRevision string }

// LicenseReport: the running licence, a problem with it (Reason: LicenseValid=False) or a notice on
// a valid one (OKReason, e.g. ExpiringSoon). Observed: this pass asked EMQX.
type LicenseReport struct {
	Observed                  bool
	Running                   *v2beta1.LicenseStatus
	Reason, OKReason, Message string
}

// TLSReport: the certificate in use and how many nodes serve it. Observed: this pass looked; then
// OK says every node serves it, or Reason/Message why not (rotating, refused source, waiting for
// cert-manager). Rotating asks for a quick look again. Served may be set without Observed when the
// pass knows the certificate but could not judge the rollout.
type TLSReport struct {
	Observed        bool
	Served          *v2beta1.TLSStatus
	OK, Rotating    bool
	Reason, Message string
}

// Saw records this pass's judgement of the TLS rollout.
func (r *TLSReport) Saw(ok bool, reason, message string) {
	r.Observed, r.OK, r.Reason, r.Message = true, ok, reason, message
}

// RestoreReport: the restore of spec.restoreFrom as this pass saw it. Observed: this pass looked
// (Status then says where it is).
type RestoreReport struct {
	Observed bool
	Status   *v2beta1.RestoreStatus
	Message  string
}

// Saw records the restore as this pass found it.
func (r *RestoreReport) Saw(st v2beta1.RestoreStatus, message string) {
	r.Observed, r.Status, r.Message = true, &st, message
}

// DSReport: durable-storage replication as this pass found it. Observed: this pass read it (else
// the last status stands); InUse: the cluster has DS DBs (without, nothing is shown). Ready,
// Reason and Message are the DSReplicationReady condition.
type DSReport struct {
	Observed, InUse bool
	DBs             []v2beta1.DSDBReplicationStatus
	CoreSites       []v2beta1.DSCoreSite
	Ready           bool
	Reason, Message string
}

// PluginsReport: the cluster's EMQXPlugins as the cache holds them. Listed: this pass read them
// (else the last PluginsReady condition stands).
type PluginsReport struct {
	Listed bool
	Items  []v2beta1.EMQXPlugin
}
