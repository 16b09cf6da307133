package pipeline

import "github.com/broker-ops/emqx-operator/internal/status"

// Reasons that more than one reconciler or step reports (condition reasons, outcome reasons and
// Event reasons). A reason that one step alone reports is declared next to that step.
const (
	ReasonStatusConflict        = "StatusConflict"
	ReasonApplying              = "Applying"
	ReasonPaused                = "Paused"
	ReasonNodesJoining          = "NodesJoining"
	ReasonWaitingForRolloutSlot = "WaitingForRolloutSlot"
	ReasonConfigRejected        = "ConfigRejected"
	ReasonConfigApplied         = "ConfigApplied"
	ReasonAdoptingWorkloads     = "AdoptingWorkloads"
	ReasonReplacingObject       = "ReplacingObject"
	ReasonNameInUse             = "NameInUse"
	ReasonSecretNotOurs         = "SecretNotOurs"
	ReasonForeignWorkloads      = "ForeignWorkloads"
	ReasonLicenseRejected       = status.ReasonLicenseRejected
	ReasonLicenseExpiringSoon   = "LicenseExpiringSoon"
	ReasonCertificateInvalid    = "CertificateInvalid"
	ReasonWaitingForCertificate = "WaitingForCertificate"
	ReasonCertificateRotating   = "CertificateRotating"
	ReasonCertificateServed     = "CertificateServed"
	ReasonCertManagerMissing    = "CertManagerNotInstalled"
	ReasonApplyFailed           = "ApplyFailed"
	ReasonStepFailed            = "StepFailed"
)
