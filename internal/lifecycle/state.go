// Package lifecycle decides the next day-2 step for a cluster — join, scale-in, rolling update —
// as a pure function of what the operator observed. The controller executes the step it returns
// and comes back: one step per reconcile, so an operator killed at any point resumes from what
// the cluster shows, never from memory it lost.
package lifecycle

import (
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Role is one workload as observed.
type Role struct {
	Name string // core | replicant
	Set  *appsv1.StatefulSet
	Want int32
	Pods []corev1.Pod // this role's pods, any order
}

// State is everything a decision depends on.
type State struct {
	Cluster   *v2beta1.EMQX
	Core      Role
	Replicant Role
	// Nodes is GET /api/v5/nodes; NodesKnown is false when no node answered.
	Nodes      []emqxapi.Node
	NodesKnown bool
	// Evacuations are the cluster's running evacuations, by node.
	Evacuations map[string]emqxapi.Evacuation
	// EvacuationStarted is when the operator started each evacuation it is waiting for.
	EvacuationStarted map[string]time.Time
	// UnlistedSince is when the operator first saw each node whose pod is Ready missing from
	// Nodes (a node without an entry counts as just seen).
	UnlistedSince map[string]time.Time
	// Outsiders are departing nodes missing from Nodes as they see themselves, read from their own
	// API (the controller reads the nodes DepartingUnlisted names; one that did not answer has no
	// entry).
	Outsiders map[string]Outsider
	// ForeignUnlistedSince is when the operator first saw each Ready vendor pod (by pod name) that
	// no listed node matches.
	ForeignUnlistedSince map[string]time.Time
	Now                  time.Time
	// JoinTimeout: a pod Ready this long whose node has not joined is invited (default DefaultJoinTimeout).
	JoinTimeout time.Duration
	// NoEvacuation, when set, says why the cluster's nodes cannot be evacuated (EMQX 4.4: the
	// operator has no evacuation API for it); nodes are then stopped without one.
	NoEvacuation string
	// NoInvite: the nodes have no invite API (EMQX 4.4), so a node that has not joined is waited for.
	NoInvite bool
	// Foreign are the pods of ReplicaSets the vendor's operator made (its replicants), being
	// replaced by this operator's; ForeignSets are those ReplicaSets.
	Foreign     []corev1.Pod
	ForeignSets []appsv1.ReplicaSet
	// KeepPod names the nodes whose pods must not be stopped yet, and why: a departing core whose
	// durable-storage site still holds shard replicas (dsrepl.Plan.Hold).
	KeepPod map[string]string
}

// EMQXContainer is the name of the EMQX container in every pod the chart renders.
const EMQXContainer = "emqx"

// Tunables (durations in wall time).
const (
	// DefaultJoinTimeout: DNS discovery retries every 5 s, so a node Ready this long without having
	// joined is not going to join by itself.
	DefaultJoinTimeout = 30 * time.Second
	// StuckAfter: an outdated pod made this long ago and still down is not starting but stuck on
	// its revision (a node that is gone, a pod that cannot be scheduled), and is replaced even
	// when its replacement must then wait for a core of its release. Long enough for a pod
	// recreated on a node with the image cached to start and join.
	StuckAfter = 2 * time.Minute
	// evacuationMargin is added to the time an evacuation should take before the operator stops
	// waiting for it: the wait is bounded, a stuck evacuation must not block a scale-in for ever.
	evacuationMargin = 60 * time.Second
)

func (r Role) current() int32 {
	if r.Set == nil {
		return r.Want
	}
	return ptr.Deref(r.Set.Spec.Replicas, r.Want)
}

// size is how many nodes the role runs now: its StatefulSet's replicas or, while the StatefulSet is
// being replaced (deleted with its pods orphaned, to change an immutable field), one past the highest
// ordinal among its pods. The new StatefulSet adopts those pods: made smaller, it would delete the
// extra ones at once, without the evacuation a scale-in gives each node.
func (r Role) size() int32 {
	if r.Set != nil {
		return r.current()
	}
	n := r.Want
	for i := range r.Pods {
		if o := Ordinal(r.Pods[i].Name); o >= 0 && int32(o)+1 > n {
			n = int32(o) + 1
		}
	}
	return n
}

func (r Role) pod(name string) *corev1.Pod {
	for i := range r.Pods {
		if r.Pods[i].Name == name {
			return &r.Pods[i]
		}
	}
	return nil
}

// updateRevision is the StatefulSet's target revision, once its controller has seen the latest spec.
func (r Role) updateRevision() string {
	if r.Set == nil || r.Set.Status.ObservedGeneration < r.Set.Generation {
		return ""
	}
	return r.Set.Status.UpdateRevision
}

// Ordinal is a StatefulSet pod's ordinal, -1 if the name has none.
func Ordinal(pod string) int {
	n, err := strconv.Atoi(pod[strings.LastIndex(pod, "-")+1:])
	if err != nil {
		return -1
	}
	return n
}

// NodeName is the EMQX node name of a pod of cluster e.
func NodeName(e *v2beta1.EMQX, pod string) string { return e.NodeName(pod) }

// PodOfNode is the pod name of an EMQX node of cluster e ("" if it is not one of its pods).
func PodOfNode(e *v2beta1.EMQX, node string) string { return e.PodOfNode(node) }

// PodReady reports the pod's Ready condition and since when it holds.
func PodReady(p *corev1.Pod) (bool, time.Time) {
	if p == nil || p.DeletionTimestamp != nil {
		return false, time.Time{}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

func (s *State) node(name string) (emqxapi.Node, bool) {
	for _, n := range s.Nodes {
		if n.Node == name {
			return n, true
		}
	}
	return emqxapi.Node{}, false
}

func (s *State) running(name string) bool {
	n, ok := s.node(name)
	return ok && n.NodeStatus == "running"
}

// supportsEvacuation: node evacuation exists in Enterprise builds (all of 5.9+ and 6.x); the
// open-source 5.8 builds answer 404.
func (s *State) supportsEvacuation() bool {
	if s.NoEvacuation != "" {
		return false
	}
	for _, n := range s.Nodes {
		if n.Edition == "Opensource" {
			return false
		}
	}
	return true
}
