package lifecycle

import (
	"fmt"
	"net"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// retireForeign drains the vendor's replicant ReplicaSets node by node once this operator's own
// replicants run: each vendor node is evacuated to the cluster's own nodes, then its pod alone is
// removed (its ReplicaSet scaled down by one with that pod the cheapest to delete), and an empty
// ReplicaSet is deleted. Cores are rolled only after that (rollOut comes later), so at most one
// node is down at any time.
func retireForeign(s *State, p *Plan) bool {
	if len(s.Foreign) == 0 && len(s.ForeignSets) == 0 {
		return false
	}
	p.Busy, p.Role = true, v2beta1.RoleReplicant
	pods := append([]corev1.Pod(nil), s.Foreign...)
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		if pods[i].DeletionTimestamp != nil {
			// One node at a time: the previous one must be gone first.
			p.Reason, p.Message = "AdoptingWorkloads", fmt.Sprintf("waiting for the vendor's pod %s to stop", pods[i].Name)
			return true
		}
	}
	if len(pods) == 0 {
		for i := range s.ForeignSets {
			set := &s.ForeignSets[i]
			if set.Status.Replicas == 0 {
				p.Step = Step{Kind: DeleteForeignSet, Set: set}
				p.Reason, p.Message = "AdoptingWorkloads", fmt.Sprintf("deleting the vendor's ReplicaSet %s, which has no pod left", set.Name)
				return true
			}
		}
		p.Reason, p.Message = "AdoptingWorkloads", "waiting for the vendor's ReplicaSets to report no pod"
		return true
	}
	// Gate: the vendor's nodes carry clients until every node of this operator's own runs; only
	// then does one of them go (and its clients move to ours).
	if reason, msg := unhealthy(s); reason != "" {
		p.Reason, p.Message = reason, msg
		return true
	}
	pod := &pods[0]
	set := ownerSet(s, pod)
	if ready, _ := PodReady(pod); ready {
		node := ForeignNodeName(s, pod)
		// Safety gate: a Ready vendor pod that no listed node matches may be a node the answering
		// node does not see yet (a list read mid-restart) or one outside its cluster, with clients;
		// removed on the strength of that one list it would lose them unevacuated. It is waited for,
		// so that it can show up and be evacuated like the others; the wait is bounded (StuckAfter,
		// like the scale-in's) so that a node that never shows up cannot hold the takeover for ever
		// — it is then removed without an evacuation (the vendor's nodes are not invited).
		if node == "" && s.supportsEvacuation() && !foreignUnlistedTooLong(s, pod.Name) {
			p.Reason, p.Message = "AdoptingWorkloads", fmt.Sprintf("replacing the vendor's replicant %s: its pod is Ready but the answering node lists no node of it; waiting up to %s for it to be listed", pod.Name, StuckAfter)
			return true
		}
		if node != "" {
			drained, step, why := drain(s, &s.Replicant, node, pod.Name)
			if !drained {
				p.Step, p.Reason, p.Message = step, "AdoptingWorkloads", fmt.Sprintf("replacing the vendor's replicant %s: %s", pod.Name, why)
				return true
			}
		}
	}
	p.Step = Step{Kind: RetireForeignPod, Pod: pod, Set: set, Disruptive: true}
	p.Reason, p.Message = "AdoptingWorkloads", fmt.Sprintf("removing the vendor's replicant %s (%d left)", pod.Name, len(pods))
	return true
}

// foreignUnlistedTooLong: the vendor pod has been Ready with no listed node for StuckAfter.
func foreignUnlistedTooLong(s *State, pod string) bool {
	return seenLongerThan(s, s.ForeignUnlistedSince, pod, StuckAfter)
}

// ForeignNodeName is the EMQX node of a vendor pod, found among the cluster's nodes by the pod's
// address: the vendor's replicants are named emqx@<pod IP>, its cores emqx@<pod>.<headless>.
func ForeignNodeName(s *State, pod *corev1.Pod) string {
	for _, n := range s.Nodes {
		_, host, ok := strings.Cut(n.Node, "@")
		if !ok {
			continue
		}
		if (pod.Status.PodIP != "" && net.ParseIP(host) != nil && host == pod.Status.PodIP) || strings.HasPrefix(host, pod.Name+".") {
			return n.Node
		}
	}
	return ""
}

func ownerSet(s *State, pod *corev1.Pod) *appsv1.ReplicaSet {
	ref := metav1.GetControllerOf(pod)
	for i := range s.ForeignSets {
		if ref != nil && s.ForeignSets[i].UID == ref.UID {
			return &s.ForeignSets[i]
		}
	}
	return nil
}
