package plugin

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/plugins"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// assembleStatus is the plugin's status from what the pass found: the nodes and counts from the
// decision, the conditions from the pass's problem, the config report and the outcome. A pass that
// stopped before it looked at the cluster keeps the nodes last seen.
func assembleStatus(pl *v2beta1.EMQXPlugin, p *pass, mem remembered, out pipeline.Outcome, passErr error, now time.Time) *v2beta1.EMQXPluginStatus {
	st := p.next
	if mem.upgrade != nil {
		st.LastUpgrade = mem.upgrade
	}
	if p.config == nil && mem.rejected != "" && mem.rejected == configKey(pl) && (p.decision == nil || !p.decision.ConfigApplied) {
		p.config = &condition{reason: ReasonConfigRejected, message: mem.rejectedMessage}
	}
	st.ObservedGeneration = pl.Generation
	d := p.decision
	if d != nil {
		st.Nodes = st.Nodes[:0]
		for _, n := range d.Nodes {
			pn := v2beta1.PluginNode{Node: n.Node, NameVsn: n.NameVsn, Running: n.Running}
			if np, ok := p.byNode[n.Node]; ok {
				pn.PodUID, pn.Restarts = np.pod.UID, status.EMQXRestarts(np.pod)
			}
			st.Nodes = append(st.Nodes, pn)
		}
		if len(st.Nodes) == 0 {
			st.Nodes = nil
		}
		st.ReadyNodes = fmt.Sprintf("%d/%d", d.ReadyNodes, len(d.Nodes))
	}
	set := func(typ string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg,
			ObservedGeneration: pl.Generation, LastTransitionTime: metav1.NewTime(now)})
	}

	// Installed and ConfigApplied come from the decision; without one they keep what was seen.
	if d != nil {
		if d.Installed {
			set(v2beta1.PluginInstalled, true, "Installed", fmt.Sprintf("%s is on every running node (%d)", pl.Spec.NameVsn, len(d.Nodes)))
		} else {
			set(v2beta1.PluginInstalled, false, "Installing", fmt.Sprintf("%s is on %s running nodes", pl.Spec.NameVsn, installedCount(d.Nodes, pl.Spec.NameVsn)))
		}
	}
	switch {
	case p.config != nil:
		set(v2beta1.PluginConfigApplied, false, p.config.reason, p.config.message)
	case pl.Spec.Config == nil:
		set(v2beta1.PluginConfigApplied, true, "NotManaged", "spec.config is unset: the plugin keeps its own configuration")
	case configRejected(pl) && d != nil && !d.ConfigApplied:
		// Still refused: the condition keeps EMQX's words until the spec changes.
	case d != nil && d.ConfigApplied:
		set(v2beta1.PluginConfigApplied, true, "Applied", "the cluster runs spec.config")
	case d != nil:
		set(v2beta1.PluginConfigApplied, false, "Applying", "spec.config is being applied")
	}

	switch {
	case passErr != nil:
		set(v2beta1.Ready, false, pipeline.ReasonStepFailed, passErr.Error())
	case p.problem != nil:
		set(v2beta1.Ready, false, p.problem.reason, p.problem.message)
	case d != nil && d.Converged():
		set(v2beta1.Ready, true, "Ready", readyMessage(pl))
	case d != nil && !d.ConfigApplied && rejectedIn(st):
		set(v2beta1.Ready, false, ReasonConfigRejected, meta.FindStatusCondition(st.Conditions, v2beta1.PluginConfigApplied).Message)
	case d != nil && d.WaitReason != "":
		set(v2beta1.Ready, false, d.WaitReason, d.Message)
	default:
		set(v2beta1.Ready, false, "Progressing", "the operator is "+progress(out))
	}
	return st
}

func readyMessage(pl *v2beta1.EMQXPlugin) string {
	if pl.Spec.Enabled {
		return pl.Spec.NameVsn + " runs on every running node"
	}
	return pl.Spec.NameVsn + " is installed (stopped) on every running node"
}

func progress(out pipeline.Outcome) string {
	if out.Reason == "" {
		return "looking at the cluster"
	}
	return "at step " + out.Reason
}

// installedCount is "<nodes with the version> of <running nodes>".
func installedCount(nodes []plugins.NodeState, nameVsn string) string {
	n := 0
	for _, s := range nodes {
		if s.NameVsn == nameVsn {
			n++
		}
	}
	return fmt.Sprintf("%d of %d", n, len(nodes))
}

func rejectedIn(st *v2beta1.EMQXPluginStatus) bool {
	c := meta.FindStatusCondition(st.Conditions, v2beta1.PluginConfigApplied)
	return c != nil && c.Reason == ReasonConfigRejected
}
