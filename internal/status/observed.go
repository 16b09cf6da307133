// Package status computes an EMQX resource's status from what the operator observed. It is a pure
// function: the controller gathers the observations and writes the result once per reconcile.
package status

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Observed is what one reconcile saw.
type Observed struct {
	// ReadErr: the workloads or pods could not be read from the cache, so nothing below is known;
	// the status keeps what earlier passes saw and says Ready is unknown.
	ReadErr      error
	CoreSet      *appsv1.StatefulSet
	ReplicantSet *appsv1.StatefulSet
	Pods         []corev1.Pod
	// Nodes is GET /api/v5/nodes from the first ready core that answered; NodesErr why none did.
	Nodes    []emqxapi.Node
	NodesErr error
	// Answered is the node that answered GET /nodes: later reads in the same pass ask it, not
	// the nodes that already failed to answer.
	Answered emqxapi.Endpoint
	// Unreachable lists pods that were asked and did not answer.
	Unreachable []string
	// Foreign are pods of the vendor's replicant ReplicaSets (a cluster being adopted), kept out
	// of Pods; ForeignSets are those ReplicaSets.
	Foreign     []corev1.Pod
	ForeignSets []appsv1.ReplicaSet
}

// PodForNode maps an EMQX node name (emqx@<pod>.<headless FQDN>) to its pod's name.
func PodForNode(e *v2beta1.EMQX, node string) string { return e.PodOfNode(node) }

// NodeName is the EMQX node name of a pod.
func NodeName(e *v2beta1.EMQX, pod string) string { return e.NodeName(pod) }

// IsPodReady reports the pod's Ready condition.
func IsPodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodsOfRole returns the pods of one role.
func (o *Observed) PodsOfRole(role string) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range o.Pods {
		if p.Labels[v2beta1.LabelDBRole] == role {
			out = append(out, p)
		}
	}
	return out
}

// RunningNodes returns the names of nodes EMQX reports running, by role.
func (o *Observed) RunningNodes(role string) map[string]bool {
	out := map[string]bool{}
	for _, n := range o.Nodes {
		if n.NodeStatus == "running" && n.Role == role {
			out[n.Node] = true
		}
	}
	return out
}

// RoleJoined reports whether every wanted pod of a role exists, is ready, and runs as a node of
// the cluster according to EMQX.
func (o *Observed) RoleJoined(e *v2beta1.EMQX, role string, want int32) bool {
	if o.NodesErr != nil && want > 0 {
		return false
	}
	pods := o.PodsOfRole(role)
	running := o.RunningNodes(role)
	ready := int32(0)
	for i := range pods {
		if IsPodReady(&pods[i]) && running[NodeName(e, pods[i].Name)] {
			ready++
		}
	}
	return ready == want && int32(len(pods)) == want
}

// AwaitingJoin reports a pod Ready for less than within whose node EMQX does not list running,
// from an answer that was read: Kubernetes is done with it and only EMQX's own join is pending,
// which no watch reports. After within, the operator invites the node (lifecycle's JoinTimeout)
// and the usual converging period applies: a node that never joins is not polled every second.
func (o *Observed) AwaitingJoin(e *v2beta1.EMQX, now time.Time, within time.Duration) bool {
	if o.NodesErr != nil {
		return false
	}
	for _, role := range []string{v2beta1.RoleCore, v2beta1.RoleReplicant} {
		running := o.RunningNodes(role)
		for _, p := range o.PodsOfRole(role) {
			if IsPodReady(&p) && !running[NodeName(e, p.Name)] && now.Sub(readySince(&p)) < within {
				return true
			}
		}
	}
	return false
}

// readySince is when the pod's Ready condition last changed (zero when it has none).
func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// CoresReady is the gate for starting replicants.
func (o *Observed) CoresReady(e *v2beta1.EMQX) bool {
	return o.CoreSet != nil && o.RoleJoined(e, v2beta1.RoleCore, e.CoreReplicas())
}
