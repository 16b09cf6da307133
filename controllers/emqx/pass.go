package emqx

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
)

// pass is one reconcile of one cluster: what the steps gathered for the steps after them, and the
// typed report each step writes. The status is assembled once, from the reports, at the end.
type pass struct {
	// e is the cluster with the API's defaults.
	e *v2beta1.EMQX

	// Gathered by the steps, for the steps after them.
	operatorKey credentials.APIKey  // the key this pass calls EMQX with
	ownKey      credentials.APIKey  // the operator's key in the bootstrap file (differs while adopting)
	scrapeKey   *credentials.APIKey // Prometheus's viewer key (spec.monitoring.podMonitor), nil without it
	userKeys    []credentials.APIKey
	foreignSets []appsv1.ReplicaSet
	observed    *status.Observed
	fingerprint string              // the cluster as Kubernetes shows it (health.go)
	health      healthpoll.Decision // what this pass may read from EMQX
	reading     healthpoll.Reading  // what EMQX said (this pass's reads over the last reading)
	evacs       []emqxapi.Evacuation
	lic         licenseDecision
	tlsPlan     tlsDecision
	conf        configChange
	plan        lifecycle.Plan
	// unwatched are users' Secrets read past the cache: labelled watched once the steps are done.
	unwatched []*corev1.Secret
	// objectsChanged: the apply step changed a StatefulSet (observed before the change).
	objectsChanged bool
	// dsKeep: departing core nodes that keep their pods while their durable-storage replicas move.
	dsKeep map[string]string
	// upgradeNotice: a supported image change with a limitation, told when Apply changes the image.
	upgradeNotice *upgradepath.Verdict

	// reports: one per concern, each written by its steps only; status.Compute reads them once.
	reports status.Reports
}
