// Package olm reports the operator's state to OLM. While any cluster is mid-rollout (a scale-in,
// a template or version change), replacing the operator would hand a half-finished rollout to a
// new version, so the operator says Upgradeable=False on its OperatorCondition and OLM holds the
// upgrade back. Outside OLM there is no OperatorCondition and nothing is reported.
package olm

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	apiv2 "github.com/operator-framework/api/pkg/operators/v2"
	"github.com/operator-framework/operator-lib/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reasons of the Upgradeable condition.
const (
	ReasonClustersRolling = "ClustersRolling"
	ReasonNoRollout       = "NoRolloutInProgress"
)

// UpgradeGate collects which clusters are mid-rollout and keeps the Upgradeable condition in step.
// A nil *UpgradeGate does nothing, so callers need no OLM check.
type UpgradeGate struct {
	cond conditions.Condition

	mu      sync.Mutex
	busy    map[string]string // cluster → why it is busy
	written *bool             // Upgradeable as last written (nil: never)
	message string
}

// NewUpgradeGate returns a gate that writes the operator's OperatorCondition through operator-lib,
// or nil when OLM did not give the operator one (no OPERATOR_CONDITION_NAME, or not in a pod).
func NewUpgradeGate(c client.Client, log logr.Logger) *UpgradeGate {
	cond, err := conditions.NewCondition(c, apiv2.ConditionType(apiv2.Upgradeable))
	if err != nil {
		log.Info("no OperatorCondition from OLM; Upgradeable is not reported", "reason", err.Error())
		return nil
	}
	return NewUpgradeGateFor(cond)
}

// NewUpgradeGateFor returns a gate writing to cond.
func NewUpgradeGateFor(cond conditions.Condition) *UpgradeGate {
	return &UpgradeGate{cond: cond, busy: map[string]string{}}
}

// Observe records whether a cluster is mid-rollout (why: "" when it is not) and writes the
// condition when the operator-wide answer changed. A failed write is returned and retried on the
// next Observe.
func (g *UpgradeGate) Observe(ctx context.Context, cluster, why string) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if why == "" {
		delete(g.busy, cluster)
	} else {
		g.busy[cluster] = why
	}
	upgradeable, reason, message := g.state()
	if g.written != nil && *g.written == upgradeable && g.message == message {
		return nil
	}
	status := metav1.ConditionTrue
	if !upgradeable {
		status = metav1.ConditionFalse
	}
	if err := g.cond.Set(ctx, status, conditions.WithReason(reason), conditions.WithMessage(message)); err != nil {
		return fmt.Errorf("setting Upgradeable=%s on the OperatorCondition: %w", status, err)
	}
	g.written, g.message = &upgradeable, message
	return nil
}

func (g *UpgradeGate) state() (bool, string, string) {
	if len(g.busy) == 0 {
		return true, ReasonNoRollout, "no EMQX cluster is mid-rollout"
	}
	names := make([]string, 0, len(g.busy))
	for n, why := range g.busy {
		names = append(names, n+" ("+why+")")
	}
	sort.Strings(names)
	return false, ReasonClustersRolling, "EMQX clusters mid-rollout, an operator upgrade waits until they finish: " + strings.Join(names, ", ")
}
