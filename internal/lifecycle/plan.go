package lifecycle

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// StepKind names what the controller does next.
type StepKind string

const (
	None            StepKind = ""
	ForceLeave      StepKind = "ForceLeave"
	StopEvacuation  StepKind = "StopEvacuation"
	Invite          StepKind = "Invite"
	StartEvacuation StepKind = "StartEvacuation"
	ReplacePod      StepKind = "ReplacePod"
	// RetireForeignPod removes one pod of a ReplicaSet the vendor's operator made: the pod is
	// marked the cheapest to delete and its ReplicaSet scaled down by one.
	RetireForeignPod StepKind = "RetireForeignPod"
	// DeleteForeignSet deletes a vendor ReplicaSet that has no pod left.
	DeleteForeignSet StepKind = "DeleteForeignSet"
	// EvacuateOutsider starts the evacuation of a departing node that runs outside the cluster,
	// through that node's own API and with no migrate_to (drainUnlisted).
	EvacuateOutsider StepKind = "EvacuateOutsider"
)

// Step is one action.
type Step struct {
	Kind StepKind
	Node string
	Pod  *corev1.Pod
	// Set is the vendor ReplicaSet a RetireForeignPod or DeleteForeignSet step is about.
	Set        *appsv1.ReplicaSet
	Evacuation emqxapi.EvacuationOptions
	// Disruptive steps change which nodes serve clients; the operator-wide rollout limit applies.
	Disruptive bool
}

// Plan is the decision: the replicas to render now, the next step, and why.
type Plan struct {
	CoreReplicas, ReplicantReplicas int32
	Step                            Step
	// Reason and Message say what the cluster is doing (or waiting for); empty when converged.
	Reason, Message string
	// Role is the role the reason is about.
	Role string
	// Busy is true while a scale-in or rolling update is under way (OLM Upgradeable=False, throttling).
	Busy bool
}

// Decide returns the next step. Rules, first match wins:
//  1. no node answers: only scale out; never remove or replace a node the operator cannot see;
//  2. force_leave cores that were scaled away (stopped in EMQX, pod gone), so no stopped node lingers;
//  3. stop evacuations left on nodes that are staying (an evacuation persists on the data volume
//     and would keep a restarted core refusing clients for ever);
//  4. invite pods that are Ready but have not joined within JoinTimeout;
//  5. scale in one node at a time, highest ordinal first, each evacuated before its pod goes and
//     kept while its durable-storage site still holds replicas (KeepPod);
//  6. roll outdated pods one at a time, in an order EMQX accepts, each evacuated first.
func Decide(s State) Plan {
	p := Plan{CoreReplicas: s.Core.Want, ReplicantReplicas: s.Replicant.Want}
	// Until rule 5 says a departing node may go, keep the current size (also while a StatefulSet
	// is being replaced and its pods wait to be adopted).
	if c := s.Core.size(); c > s.Core.Want {
		p.CoreReplicas = c
	}
	if c := s.Replicant.size(); c > s.Replicant.Want {
		p.ReplicantReplicas = c
	}
	if !s.NodesKnown {
		if p.CoreReplicas != s.Core.Want || p.ReplicantReplicas != s.Replicant.Want || outdatedAny(s) {
			p.Busy, p.Reason, p.Message = true, "EMQXUnreachable", "no EMQX node answers; scale-in and rolling updates wait"
		}
		return p
	}
	for _, rule := range []func(*State, *Plan) bool{forceLeaveDeparted, stopStrayEvacuations, inviteStragglers, retireForeign, scaleIn, rollOut} {
		if rule(&s, &p) {
			return p
		}
	}
	return p
}

func forceLeaveDeparted(s *State, p *Plan) bool {
	for _, n := range s.Nodes {
		if n.NodeStatus != "stopped" || n.Role != v2beta1.RoleCore {
			continue
		}
		pod := PodOfNode(s.Cluster, n.Node)
		// Only a core whose ordinal is beyond the StatefulSet's size left for good; a stopped core
		// that is merely restarting comes back with the same name and rejoins.
		if pod == "" || s.Core.pod(pod) != nil || int32(Ordinal(pod)) < s.Core.current() {
			continue
		}
		p.Step = Step{Kind: ForceLeave, Node: n.Node}
		p.Reason, p.Role, p.Message = "RemovingDepartedNode", v2beta1.RoleCore, fmt.Sprintf("removing departed node %s from the cluster", n.Node)
		return true
	}
	return false
}

func stopStrayEvacuations(s *State, p *Plan) bool {
	for _, node := range sortedKeys(s.Evacuations) {
		pod := PodOfNode(s.Cluster, node)
		role := roleOf(s, pod)
		if role == nil || !s.running(node) {
			continue
		}
		// Right after a spec change the StatefulSet's status has not caught up: which pods are
		// outdated is not known yet, and a pod being drained for the rollout would read as
		// staying (its evacuation ended, then started again: clients bounced).
		if role.updateRevision() == "" {
			continue
		}
		po := role.pod(pod)
		// Departing (scale-in), outdated (being replaced) and terminating (drained, deleted by hand:
		// their preStop hook evacuates them) nodes keep their evacuation.
		if int32(Ordinal(pod)) >= role.Want || po == nil || isOutdated(role, po) || po.DeletionTimestamp != nil {
			continue
		}
		p.Step = Step{Kind: StopEvacuation, Node: node}
		p.Reason, p.Role, p.Message = "StoppingEvacuation", role.Name, fmt.Sprintf("node %s stays: ending its evacuation so it accepts clients again", node)
		return true
	}
	return false
}

func inviteStragglers(s *State, p *Plan) bool {
	if s.NoInvite {
		return false
	}
	timeout := s.JoinTimeout
	if timeout <= 0 {
		timeout = DefaultJoinTimeout
	}
	for _, role := range []*Role{&s.Core, &s.Replicant} {
		for i := range role.Pods {
			pod := &role.Pods[i]
			ready, since := PodReady(pod)
			node := NodeName(s.Cluster, pod.Name)
			if !ready || s.running(node) || s.Now.Sub(since) < timeout || !anyRunningCore(s) {
				continue
			}
			// A departing node that has not joined in StuckAfter is left to the scale-in: an
			// invite refused again and again would otherwise hold it for ever.
			if int32(Ordinal(pod.Name)) >= role.Want && unlistedTooLong(s, node) {
				continue
			}
			// EMQX refuses a replicant no core of its release can take: inviting it again and again
			// would hold the rollout that brings that core (rule 6) for ever.
			if role.Name == v2beta1.RoleReplicant && waitsForItsCore(s, pod) {
				continue
			}
			p.Step = Step{Kind: Invite, Node: node}
			p.Reason, p.Role, p.Message = "InvitingNode", role.Name, fmt.Sprintf("node %s is Ready but has not joined in %s: inviting it", node, timeout)
			return true
		}
	}
	return false
}

func anyRunningCore(s *State) bool {
	for _, n := range s.Nodes {
		if n.Role == v2beta1.RoleCore && n.NodeStatus == "running" {
			return true
		}
	}
	return false
}

// scaleIn removes one node at a time, replicants before cores, highest ordinal first: the
// StatefulSet removes the highest ordinal when its replicas drop by one.
func scaleIn(s *State, p *Plan) bool {
	for _, role := range []*Role{&s.Replicant, &s.Core} {
		cur := role.current()
		if role.Set == nil || cur <= role.Want {
			continue
		}
		p.Busy, p.Role = true, role.Name
		name := fmt.Sprintf("%s-%d", role.Set.Name, cur-1)
		node := NodeName(s.Cluster, name)
		drained, step, why := drain(s, role, node, name)
		if !drained {
			p.Step, p.Reason, p.Message = step, "ScalingIn", fmt.Sprintf("scaling %s nodes in from %d to %d: %s", role.Name, cur, role.Want, why)
			return true
		}
		if role.Name == v2beta1.RoleCore {
			p.CoreReplicas = cur - 1
		} else {
			p.ReplicantReplicas = cur - 1
		}
		p.Reason, p.Message = "ScalingIn", fmt.Sprintf("scaling %s nodes in from %d to %d: removing %s (%s)", role.Name, cur, role.Want, name, why)
		return true
	}
	return false
}

// drain reports whether a node may be stopped now; if not, the step that moves it there.
func drain(s *State, role *Role, node, pod string) (bool, Step, string) {
	// A node whose durable-storage replicas have not moved keeps its pod, running or not: stopped
	// first, the shards it holds would be left with fewer replicas than configured.
	if why, keep := s.KeepPod[node]; keep {
		return false, Step{}, why
	}
	n, ok := s.node(node)
	if !ok {
		return drainUnlisted(s, role, node, pod)
	}
	if n.NodeStatus != "running" {
		return true, Step{}, "node not running"
	}
	if !s.supportsEvacuation() {
		if s.NoEvacuation != "" {
			return true, Step{}, s.NoEvacuation
		}
		return true, Step{}, "this edition cannot evacuate clients"
	}
	if len(migrationTargets(s, node)) == 0 {
		// Every node that stays is being evacuated itself (a rollout's, when the user scales the
		// rest in): stopped now, this node would drop its clients (found by
		// TestThePlanInTheLoopKeepsOneNodeDown). The scale-in goes first, as the order of the
		// rules says: the staying node's evacuation is ended so it takes these clients, and the
		// rollout evacuates it again afterwards. A staying node already on its way out (its pod
		// terminating) comes back by itself: waited for.
		if other, going := evacuatingStayer(s, node); other != "" && n.Connections > 0 {
			if going {
				return false, Step{}, fmt.Sprintf("no other node can take its clients until %s is back", other)
			}
			return false, Step{Kind: StopEvacuation, Node: other}, fmt.Sprintf("%s must take the clients of %s: ending its evacuation first", other, node)
		}
		return true, Step{}, "no other node to take its clients"
	}
	ev, evacuating := s.Evacuations[node]
	if !evacuating {
		if n.Connections == 0 {
			return true, Step{}, "no clients connected"
		}
		return false, Step{Kind: StartEvacuation, Node: node, Evacuation: evacuationOptions(s, node), Disruptive: true},
			fmt.Sprintf("evacuating %d clients from %s", n.Connections, node)
	}
	return evacuationProgress(s, node, ev)
}

// evacuationProgress reports whether a node's evacuation has gone far enough for it to stop: its
// clients are gone, or the wait for them passed its bound (a stuck evacuation must not hold a
// scale-in for ever).
func evacuationProgress(s *State, node string, ev emqxapi.Evacuation) (bool, Step, string) {
	if ev.Stats.CurrentConnected == 0 || ev.State == "waiting_takeover" || ev.State == "evicting_sessions" || ev.State == "prohibiting" {
		return true, Step{}, "clients evacuated"
	}
	if started, ok := s.EvacuationStarted[node]; ok && s.Now.Sub(started) > evacuationBound(s.Cluster, ev.Stats.InitialConnected) {
		return true, Step{}, fmt.Sprintf("evacuation did not finish in %s, %d clients left", evacuationBound(s.Cluster, ev.Stats.InitialConnected), ev.Stats.CurrentConnected)
	}
	return false, Step{}, fmt.Sprintf("waiting for %s to evacuate (%d of %d clients left)", node, ev.Stats.CurrentConnected, ev.Stats.InitialConnected)
}

// evacuationBound is how long the operator waits for an evacuation: the time EMQX should need at
// the configured rates, plus a margin.
func evacuationBound(e *v2beta1.EMQX, conns int64) time.Duration {
	es := e.Spec.UpdateStrategy.EvacuationStrategy
	rate := int64(es.ConnEvictRate)
	if rate < 1 {
		rate = 1
	}
	return time.Duration(int64(es.HealthCheckWait())+int64(es.TakeoverWait())+conns/rate)*time.Second + evacuationMargin
}

func evacuationOptions(s *State, node string) emqxapi.EvacuationOptions {
	es := s.Cluster.Spec.UpdateStrategy.EvacuationStrategy
	return emqxapi.EvacuationOptions{
		ConnEvictRate: es.ConnEvictRate, SessEvictRate: es.SessEvictRate, WaitTakeover: es.TakeoverWait(),
		WaitHealthCheck: es.HealthCheckWait(), MigrateTo: migrationTargets(s, node),
	}
}

// evacuatingStayer is a running node that stays (not departing) and is being evacuated, other
// than leaving ("" if none), and whether its pod is already terminating.
func evacuatingStayer(s *State, leaving string) (string, bool) {
	for _, node := range sortedKeys(s.Evacuations) {
		pod := PodOfNode(s.Cluster, node)
		role := roleOf(s, pod)
		if node == leaving || role == nil || int32(Ordinal(pod)) >= role.Want || !s.running(node) {
			continue
		}
		po := role.pod(pod)
		return node, po == nil || po.DeletionTimestamp != nil
	}
	return "", false
}

// migrationTargets are running nodes that stay: not departing, not outdated, not the node itself.
func migrationTargets(s *State, leaving string) []string {
	var out []string
	for _, n := range s.Nodes {
		if n.NodeStatus != "running" || n.Node == leaving {
			continue
		}
		pod := PodOfNode(s.Cluster, n.Node)
		role := roleOf(s, pod)
		if role == nil || int32(Ordinal(pod)) >= role.Want {
			continue
		}
		if _, evacuating := s.Evacuations[n.Node]; evacuating {
			continue
		}
		out = append(out, n.Node)
	}
	sort.Strings(out)
	return out
}

func roleOf(s *State, pod string) *Role {
	for _, r := range []*Role{&s.Core, &s.Replicant} {
		if r.Set != nil && pod != "" && len(pod) > len(r.Set.Name) && pod[:len(r.Set.Name)+1] == r.Set.Name+"-" {
			return r
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
