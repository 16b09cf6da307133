package lifecycle

import (
	"fmt"
	"time"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Outsider is how a node that the answering node does not list sees itself, read from its own
// API: it runs outside the cluster the plan judged — alone (a replicant no core of its release
// can take, a core that came back on an empty volume) or on the other side of a split.
type Outsider struct {
	// Connections is what its own entry in its own node list says.
	Connections int64
	// Evacuation is its own evacuation, nil while it is not evacuating.
	Evacuation *emqxapi.Evacuation
	// CannotEvacuate: its own entry says an edition without evacuation (open source).
	CannotEvacuate bool
}

// DepartingUnlisted names the pods whose own view the plan needs: the pod the scale-in removes
// next (replicants before cores, as scaleIn) or, with no scale-in pending, the outdated pods a
// rollout may drain — each only when it is Ready and the answering node does not list its node.
// Reading one costs two API calls, so only these are read, only while a drain may wait on them.
func DepartingUnlisted(s *State) []string {
	if !s.NodesKnown || !s.supportsEvacuation() {
		return nil
	}
	unlistedReady := func(role *Role, name string) bool {
		if _, listed := s.node(NodeName(s.Cluster, name)); listed {
			return false
		}
		ready, _ := PodReady(role.pod(name))
		return ready
	}
	for _, role := range []*Role{&s.Replicant, &s.Core} {
		if cur := role.current(); role.Set != nil && cur > role.Want {
			if name := fmt.Sprintf("%s-%d", role.Set.Name, cur-1); unlistedReady(role, name) {
				return []string{name}
			}
			return nil
		}
	}
	var out []string
	for _, role := range []*Role{&s.Replicant, &s.Core} {
		for _, pod := range outdatedPods(role) {
			if unlistedReady(role, pod.Name) {
				out = append(out, pod.Name)
			}
		}
	}
	return out
}

// drainUnlisted is drain for a node the answering node does not list. A stopped node vanishes
// from every list, but so does a running one outside the cluster; taken as stopped, a node with
// clients loses them all (chaos soak SEED=1: c2 at 21:30:09, a replicant on the lone side of a
// split; c2 at 01:13:31, a replicant that no core of its release could take, alone, with 100
// clients). Its Ready pod says it runs, so:
//   - a node that can join is waited for: past the join timeout it is invited (the invite's own
//     gate judges its cluster);
//   - one that cannot (no core of its release runs) or has not joined within StuckAfter of first
//     being seen unlisted must go without joining, but its clients are evacuated first, through
//     its own API and with no migrate_to: they reconnect to the cluster through the Service;
//   - the wait is bounded: a node whose own API never answers goes after StuckAfter, or a node
//     that can never join (a refused licence, a bad config) would hold the scale-in for ever.
//
// A cluster that cannot evacuate (EMQX 4, open source) does not wait: its clients are cut on
// stopping either way.
func drainUnlisted(s *State, role *Role, node, pod string) (bool, Step, string) {
	po := role.pod(pod)
	if ready, _ := PodReady(po); !ready || !s.supportsEvacuation() {
		return true, Step{}, "node not running"
	}
	canJoin := role.Name != v2beta1.RoleReplicant || !waitsForItsCore(s, po)
	if canJoin && !unlistedTooLong(s, node) {
		invited := ""
		if !s.NoInvite {
			invited = " (it is invited after the join timeout)"
		}
		return false, Step{}, fmt.Sprintf("pod %s is Ready but the answering node does not list %s: it may serve clients in another cluster; waiting up to %s for it to join%s", pod, node, StuckAfter, invited)
	}
	out, read := s.Outsiders[node]
	started, evacuating := s.EvacuationStarted[node]
	switch {
	case !read && evacuating && s.Now.Sub(started) <= evacuationBound(s.Cluster, 0):
		// Its evacuation runs: one silent answer is no reason to cut the clients it still has.
		return false, Step{}, fmt.Sprintf("%s runs outside the cluster and is evacuating; its own API does not answer: waiting up to %s from the start", node, evacuationBound(s.Cluster, 0))
	case !read && !unlistedTooLong(s, node):
		return false, Step{}, fmt.Sprintf("pod %s is Ready but no core of its release runs and its own API does not answer: waiting up to %s to read its clients", pod, StuckAfter)
	case !read:
		return true, Step{}, fmt.Sprintf("%s has run outside the cluster for %s and its own API does not answer", node, StuckAfter)
	case out.Evacuation != nil:
		return evacuationProgress(s, node, *out.Evacuation)
	case out.Connections == 0:
		return true, Step{}, fmt.Sprintf("%s runs outside the cluster with no clients", node)
	case out.CannotEvacuate:
		return true, Step{}, fmt.Sprintf("%s runs outside the cluster, in an edition that cannot evacuate clients", node)
	case unlistedLongerThan(s, node, StuckAfter+evacuationBound(s.Cluster, out.Connections)):
		// Bounded like any evacuation: a start refused again and again (an agent busy, an API
		// missing) must not hold the scale-in for ever.
		return true, Step{}, fmt.Sprintf("%s runs outside the cluster and its evacuation could not be started in %s", node, StuckAfter+evacuationBound(s.Cluster, out.Connections))
	}
	opts := evacuationOptions(s, node)
	opts.MigrateTo = nil // its own cluster's nodes are none of ours: its clients reconnect through the Service
	return false, Step{Kind: EvacuateOutsider, Node: node, Evacuation: opts, Disruptive: true},
		fmt.Sprintf("evacuating %d clients from %s, which runs outside the cluster, through its own API", out.Connections, node)
}

// unlistedTooLong: the node has been missing from the answering node's list for StuckAfter.
func unlistedTooLong(s *State, node string) bool {
	return unlistedLongerThan(s, node, StuckAfter)
}

func unlistedLongerThan(s *State, node string, d time.Duration) bool {
	return seenLongerThan(s, s.UnlistedSince, node, d)
}

// seenLongerThan: since holds a time for key that is at least d before s.Now.
func seenLongerThan(s *State, since map[string]time.Time, key string, d time.Duration) bool {
	at, seen := since[key]
	return seen && s.Now.Sub(at) >= d
}
