package status

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// Emqx4Observed is what one EmqxEnterprise or EmqxBroker pass learned, the input of ComputeEmqx4.
type Emqx4Observed struct {
	// Problem is a spec or dependency problem that stopped the pass: nothing else was observed.
	Problem *validation.Problem
	// Spec is the resource's spec with the API's defaults; Image the EMQX image pods run (the
	// spec's, behind watches.yaml's imageRegistry mirror).
	Spec  v1beta2.EmqxSpec
	Image string
	Set   *appsv1.StatefulSet
	Pods  []corev1.Pod
	// Nodes is GET /api/v4/nodes; NodesErr why no node answered.
	Nodes    []emqxapi.NodeV4
	NodesErr error
	Plan     lifecycle.Plan
	// Applied: the desired objects were applied; Applying: this pass changed the StatefulSet.
	Applied, Applying bool
	License           License4
	Certs             []v1beta2.ListenerCertificate
}

// License4 is the licence revisions (hashes of the licence file, never the licence) in effect and
// refused, and why EMQX refused it.
type License4 struct {
	InEffect, Rejected, RejectMessage string
}

// AllNodesRunning: every wanted pod is Ready and its node runs in the cluster.
func (p Emqx4Observed) AllNodesRunning(c v1beta2.Cluster) bool {
	ready, running := p.countReady(c)
	return p.Set != nil && ready == *p.Spec.Replicas && running == *p.Spec.Replicas
}

// countReady counts Ready pods of wanted ordinals and the running nodes that are those pods.
func (p Emqx4Observed) countReady(c v1beta2.Cluster) (ready, running int32) {
	wanted := map[string]bool{}
	for i := range p.Pods {
		if lifecycle.Ordinal(p.Pods[i].Name) < int(*p.Spec.Replicas) && IsPodReady(&p.Pods[i]) {
			wanted[p.Pods[i].Name] = true
			ready++
		}
	}
	for _, n := range p.Nodes {
		if strings.EqualFold(n.NodeStatus, "running") && wanted[v1beta2.PodOfNode(c, n.Node)] {
			running++
		}
	}
	return ready, running
}

// ComputeEmqx4 is the status of an EmqxEnterprise or EmqxBroker from what one pass observed. A pass that stopped at a spec problem only sets
// Failed: it observed nothing else, so the other conditions keep what the last full pass saw.
func ComputeEmqx4(c v1beta2.Cluster, p Emqx4Observed) v1beta2.EmqxStatus {
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
	if p.Problem != nil {
		set(v1beta2.ConditionFailed, true, p.Problem.Reason, p.Problem.Message)
		return next
	}
	next.LicenseRevision, next.RejectedLicenseRevision = p.License.InEffect, p.License.Rejected
	if p.Applied {
		next.ListenerCertificates = p.Certs
	}
	if p.License.Rejected != "" {
		set(v1beta2.ConditionFailed, true, ReasonLicenseRejected, p.License.RejectMessage+
			"; the nodes keep the licence in effect until spec.emqxTemplate.license changes")
	} else {
		set(v1beta2.ConditionFailed, false, "Reconciled", "the spec was applied")
	}

	spec := p.Spec
	want := *spec.Replicas
	ready, running := p.countReady(c)
	next.Replicas, next.ReadyReplicas = want, ready
	next.EmqxNodes = nil
	for _, n := range p.Nodes {
		next.EmqxNodes = append(next.EmqxNodes, v1beta2.EmqxNode{Node: n.Node, NodeStatus: n.NodeStatus,
			OTPRelease: n.OTPRelease, Version: n.Version, Connections: n.Connections})
	}

	allRunning := p.AllNodesRunning(c)
	set(v1beta2.ConditionRunning, allRunning, map[bool]string{true: "AllNodesRunning", false: "NodesNotRunning"}[allRunning],
		fmt.Sprintf("%d of %d pods Ready, %d of %d nodes running in the cluster", ready, want, running, want))
	switch {
	case p.NodesErr != nil:
		set(v1beta2.ConditionHealthy, false, "EMQXUnreachable", "no node's management API answered: "+p.NodesErr.Error())
	case !allRunning:
		set(v1beta2.ConditionHealthy, false, "NodesNotRunning", nodesNotRunning4(c, p, want))
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
	if p.Set != nil && p.Set.Spec.Replicas != nil {
		current = *p.Set.Spec.Replicas
	}
	creating := meta.IsStatusConditionTrue(next.Conditions, v1beta2.ConditionCreating)
	scaling := !creating && (current != want || ready != want) && p.Plan.Reason != "RollingUpdate"
	set(v1beta2.ConditionScaling, scaling, map[bool]string{true: "Scaling", false: "Stable"}[scaling],
		fmt.Sprintf("%d nodes wanted, %d in the StatefulSet, %d Ready", want, current, ready))
	down := current > want
	set(v1beta2.ConditionScalingDown, down, map[bool]string{true: "ScalingDown", false: "Stable"}[down], p.Plan.Message)
	rolling := p.Plan.Reason == "RollingUpdate"
	switch {
	case p.Applying:
		set(v1beta2.ConditionUpdating, true, "Applying", "the StatefulSet was just changed")
	default:
		set(v1beta2.ConditionUpdating, rolling, map[bool]string{true: "RollingUpdate", false: "UpToDate"}[rolling], p.Plan.Message)
	}
	upgrading := rolling && imageDiffers(p, p.Image)
	set(v1beta2.ConditionUpgrading, upgrading, map[bool]string{true: "NewImage", false: "UpToDate"}[upgrading],
		"pods move to "+p.Image)
	return next
}

func nodesNotRunning4(c v1beta2.Cluster, p Emqx4Observed, want int32) string {
	runningNodes := map[string]bool{}
	for _, n := range p.Nodes {
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

func imageDiffers(p Emqx4Observed, image string) bool {
	for i := range p.Pods {
		for _, ct := range p.Pods[i].Spec.Containers {
			if ct.Name == lifecycle.EMQXContainer && ct.Image != image {
				return true
			}
		}
	}
	return false
}

// ReasonLicenseRejected: EMQX refused a licence key; the one in effect stays.
const ReasonLicenseRejected = "LicenseRejected"
