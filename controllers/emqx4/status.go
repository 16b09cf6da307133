package emqx4

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// emqx4Status is the status one pass observed. A pass that stopped at a spec problem only sets
// Failed: it observed nothing else, so the other conditions keep what the last full pass saw.
func emqx4Status(c v1beta2.Cluster, p *pass4) v1beta2.EmqxStatus {
	cur := c.ClusterStatus()
	next := *cur.DeepCopy()
	gen := c.GetGeneration()
	next.ObservedGeneration = gen
	set := func(t string, ok bool, reason, msg string) {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&next.Conditions, metav1.Condition{Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	if p.problem != nil {
		set(v1beta2.ConditionFailed, true, p.problem.Reason, p.problem.Message)
		return next
	}
	next.LicenseRevision, next.RejectedLicenseRevision = p.license.InEffect, p.license.Rejected
	if p.applied {
		next.ListenerCertificates = p.certs
	}
	if p.license.Rejected != "" {
		set(v1beta2.ConditionFailed, true, pipeline.ReasonLicenseRejected, p.license.RejectMessage+
			"; the nodes keep the licence in effect until spec.emqxTemplate.license changes")
	} else {
		set(v1beta2.ConditionFailed, false, "Reconciled", "the spec was applied")
	}

	spec := p.spec
	want := *spec.Replicas
	ready, running := countReady4(c, p)
	next.Replicas, next.ReadyReplicas = want, ready
	next.EmqxNodes = nil
	for _, n := range p.nodes {
		next.EmqxNodes = append(next.EmqxNodes, v1beta2.EmqxNode{Node: n.Node, NodeStatus: n.NodeStatus,
			OTPRelease: n.OTPRelease, Version: n.Version, Connections: n.Connections})
	}

	allRunning := allNodesRunning(c, p)
	set(v1beta2.ConditionRunning, allRunning, map[bool]string{true: "AllNodesRunning", false: "NodesNotRunning"}[allRunning],
		fmt.Sprintf("%d of %d pods Ready, %d of %d nodes running in the cluster", ready, want, running, want))
	switch {
	case p.nodesErr != nil:
		set(v1beta2.ConditionHealthy, false, "EMQXUnreachable", "no node's management API answered: "+p.nodesErr.Error())
	case !allRunning:
		set(v1beta2.ConditionHealthy, false, "NodesNotRunning", nodesNotRunning(c, p, want))
	default:
		set(v1beta2.ConditionHealthy, true, "AllNodesRunning", fmt.Sprintf("%d nodes running", running))
	}
	if created := meta.FindStatusCondition(cur.Conditions, v1beta2.ConditionCreating); allRunning ||
		(created != nil && created.Status == metav1.ConditionFalse) {
		set(v1beta2.ConditionCreating, false, "Created", "every node ran at least once")
	} else {
		set(v1beta2.ConditionCreating, true, "Creating", "the nodes are starting for the first time")
	}

	current := want
	if p.set != nil && p.set.Spec.Replicas != nil {
		current = *p.set.Spec.Replicas
	}
	creating := meta.IsStatusConditionTrue(next.Conditions, v1beta2.ConditionCreating)
	scaling := !creating && (current != want || ready != want) && p.plan.Reason != "RollingUpdate"
	set(v1beta2.ConditionScaling, scaling, map[bool]string{true: "Scaling", false: "Stable"}[scaling],
		fmt.Sprintf("%d nodes wanted, %d in the StatefulSet, %d Ready", want, current, ready))
	down := current > want
	set(v1beta2.ConditionScalingDown, down, map[bool]string{true: "ScalingDown", false: "Stable"}[down], p.plan.Message)
	rolling := p.plan.Reason == "RollingUpdate"
	switch {
	case p.applying:
		set(v1beta2.ConditionUpdating, true, "Applying", "the StatefulSet was just changed")
	default:
		set(v1beta2.ConditionUpdating, rolling, map[bool]string{true: "RollingUpdate", false: "UpToDate"}[rolling], p.plan.Message)
	}
	upgrading := rolling && imageDiffers(p, p.image)
	set(v1beta2.ConditionUpgrading, upgrading, map[bool]string{true: "NewImage", false: "UpToDate"}[upgrading],
		"pods move to "+p.image)
	return next
}

func nodesNotRunning(c v1beta2.Cluster, p *pass4, want int32) string {
	runningNodes := map[string]bool{}
	for _, n := range p.nodes {
		if strings.EqualFold(n.NodeStatus, "running") {
			runningNodes[n.Node] = true
		}
	}
	var missing []string
	for i := int32(0); i < want; i++ {
		pod := fmt.Sprintf("%s-%d", v1beta2.StatefulSetName(c), i)
		if !runningNodes[v1beta2.NodeName(c, pod)] {
			missing = append(missing, pod)
		}
	}
	return "not running in the cluster: " + strings.Join(missing, ", ")
}

func imageDiffers(p *pass4, image string) bool {
	for i := range p.pods {
		for _, ct := range p.pods[i].Spec.Containers {
			if ct.Name == "emqx" && ct.Image != image {
				return true
			}
		}
	}
	return false
}
