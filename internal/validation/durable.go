package validation

import (
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/dsrepl"
)

// ReasonDurableSessionsWithoutPersistence: durable sessions asked for on cores without a PVC.
const ReasonDurableSessionsWithoutPersistence = "DurableSessionsWithoutPersistence"

// DurableSessions refuses durable sessions on cores without persistence. A core's durable-storage
// site and its shard replicas live in its data directory (emqx6-behaviour.md §1.1): in an emptyDir,
// every restart or rolling update would start the node with a new, empty site, its old site left
// holding replicas that no longer exist, and durable sessions would lose their messages.
func DurableSessions(e *v2beta1.EMQX) *Problem {
	if !dsrepl.DurableSessionsIn(e.Spec.Config.Data, e.Spec.CoreTemplate.Spec.Env) {
		return nil
	}
	pvc := e.Spec.CoreTemplate.Spec.VolumeClaimTemplates
	if len(pvc.AccessModes) > 0 || len(pvc.Resources.Requests) > 0 {
		return nil
	}
	return &Problem{Reason: ReasonDurableSessionsWithoutPersistence, Message: "durable sessions are enabled but the core nodes have no persistent volume " +
		"(spec.coreTemplate.spec.volumeClaimTemplates): their durable storage would be lost on every restart and rolling update; " +
		"give the cores a volume claim template, or turn durable_sessions.enable off"}
}
