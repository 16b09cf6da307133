package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// A departing replicant outside the cluster — here one no core of its release can take, so it
// never joins (chaos soak SEED=1, c2 at 01:13:31: alone, it still served 100 clients) — or a
// joinable one that did not join within StuckAfter, is evacuated through its own API before the
// scale-in stops it: the plan reads its own view (Outsiders), starts the evacuation with no
// migrate_to, waits while it runs within its bound, and lowers the replicas only once it has no
// clients. A node whose own API says nothing is waited for StuckAfter, then goes.
func TestANodeOutsideTheClusterIsEvacuatedThroughItsOwnAPI(t *testing.T) {
	evacuating := func(current int64) *emqxapi.Evacuation {
		ev := &emqxapi.Evacuation{Node: "", State: "evicting_conns"}
		ev.Stats.InitialConnected, ev.Stats.CurrentConnected = 100, current
		return ev
	}
	for _, tc := range []struct {
		name     string
		release  string        // the departing replicant's image ("" = the cores')
		unlisted time.Duration // how long ago it was first seen unlisted
		outsider *Outsider     // nil: its own API did not answer
		started  time.Duration // how long ago the operator started its evacuation (0: not)
		wantStep StepKind
		removed  bool
		note     string
	}{
		{"no core of its release, clients, not evacuating", "emqx:6.1.5", 10 * time.Second, &Outsider{Connections: 100}, 0,
			EvacuateOutsider, false, "evacuating 100 clients from emqx@c-replicant-1.c-headless.ns.svc.cluster.local, which runs outside the cluster"},
		{"no core of its release, evacuation under way", "emqx:6.1.5", 20 * time.Second, &Outsider{Connections: 40, Evacuation: evacuating(40)}, 5 * time.Second,
			None, false, "waiting for emqx@c-replicant-1.c-headless.ns.svc.cluster.local to evacuate (40 of 100 clients left)"},
		{"no core of its release, evacuated", "emqx:6.1.5", 30 * time.Second, &Outsider{Evacuation: evacuating(0)}, 15 * time.Second,
			None, true, "clients evacuated"},
		{"no core of its release, evacuation past its bound", "emqx:6.1.5", 10 * time.Minute, &Outsider{Connections: 40, Evacuation: evacuating(40)}, 9 * time.Minute,
			None, true, "evacuation did not finish"},
		{"no core of its release, no clients", "emqx:6.1.5", 10 * time.Second, &Outsider{}, 0,
			None, true, "runs outside the cluster with no clients"},
		{"no core of its release, its API silent", "emqx:6.1.5", 10 * time.Second, nil, 0,
			None, false, "its own API does not answer"},
		{"no core of its release, its API silent for StuckAfter", "emqx:6.1.5", StuckAfter, nil, 0,
			None, true, "its own API does not answer"},
		{"evacuating, its API silent for a pass", "emqx:6.1.5", 10 * time.Minute, nil, 30 * time.Second,
			None, false, "is evacuating; its own API does not answer"},
		{"evacuating, its API silent past the evacuation's bound", "emqx:6.1.5", 10 * time.Minute, nil, 9 * time.Minute,
			None, true, "its own API does not answer"},
		{"an edition that cannot evacuate", "emqx:6.1.5", 10 * time.Second, &Outsider{Connections: 100, CannotEvacuate: true}, 0,
			None, true, "in an edition that cannot evacuate clients"},
		{"its evacuation never starts", "emqx:6.1.5", StuckAfter + 10*time.Minute, &Outsider{Connections: 100}, 0,
			None, true, "its evacuation could not be started"},
		{"joinable, unlisted for StuckAfter, clients", "", StuckAfter, &Outsider{Connections: 100}, 0,
			EvacuateOutsider, false, "which runs outside the cluster, through its own API"},
		{"joinable, unlisted for a while: still invited", "", 10 * time.Second, &Outsider{Connections: 100}, 0,
			Invite, false, "has not joined in 30s: inviting it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(3, 2)
			f.images("emqx:6.1.4", "emqx:6.1.4")
			f.state.Replicant.Want = 1
			leaving := "c-replicant-1"
			node := NodeName(f.e, leaving)
			var nodes []emqxapi.Node
			for _, n := range f.state.Nodes {
				if n.Node != node {
					nodes = append(nodes, n)
				}
			}
			f.state.Nodes = nodes
			if tc.release != "" {
				f.state.Replicant.pod(leaving).Spec.Containers[0].Image = tc.release
			}
			f.state.UnlistedSince = map[string]time.Time{node: now.Add(-tc.unlisted)}
			if got := DepartingUnlisted(&f.state); len(got) != 1 || got[0] != leaving {
				t.Fatalf("DepartingUnlisted = %v, want [%s]", got, leaving)
			}
			if tc.outsider != nil {
				if tc.outsider.Evacuation != nil {
					tc.outsider.Evacuation.Node = node
				}
				f.state.Outsiders = map[string]Outsider{node: *tc.outsider}
			}
			if tc.started > 0 {
				f.state.EvacuationStarted = map[string]time.Time{node: now.Add(-tc.started)}
			}
			p := Decide(f.state)
			if p.Step.Kind != tc.wantStep || (p.ReplicantReplicas == 1) != tc.removed || !strings.Contains(p.Message, tc.note) {
				t.Fatalf("plan = %+v\nwant step %q, %s removed: %v, message saying %q", p, tc.wantStep, leaving, tc.removed, tc.note)
			}
			if p.Step.Kind == EvacuateOutsider {
				// Its own cluster's nodes are none of ours: no migrate_to, the clients reconnect
				// through the Service. The operator-wide rollout limit applies.
				if p.Step.Node != node || p.Step.Evacuation.MigrateTo != nil || !p.Step.Disruptive {
					t.Errorf("step = %+v, want a disruptive evacuation of %s with no migrate_to", p.Step, node)
				}
			}
		})
	}
}

// Only the pod the scale-in removes next (replicants first, as the scale-in goes) or, with no
// scale-in pending, an outdated pod a rollout may drain is read, only while it is Ready and
// unlisted, and never in a cluster that cannot evacuate.
func TestDepartingUnlistedNamesOnlyPodsADrainMayWaitOn(t *testing.T) {
	unlist := func(f *fixture, pod string) {
		var nodes []emqxapi.Node
		for _, n := range f.state.Nodes {
			if n.Node != NodeName(f.e, pod) {
				nodes = append(nodes, n)
			}
		}
		f.state.Nodes = nodes
	}
	f := newFixture(3, 2)
	if got := DepartingUnlisted(&f.state); got != nil {
		t.Errorf("converged: %v, want none", got)
	}
	f.state.Replicant.Want = 1
	if got := DepartingUnlisted(&f.state); got != nil {
		t.Errorf("departing node listed: %v, want none", got)
	}
	unlist(f, "c-replicant-0") // unlisted, but staying
	if got := DepartingUnlisted(&f.state); got != nil {
		t.Errorf("staying node unlisted: %v, want none", got)
	}
	unlist(f, "c-replicant-1")
	f.state.Core.Want = 2
	unlist(f, "c-core-2")
	if got := DepartingUnlisted(&f.state); len(got) != 1 || got[0] != "c-replicant-1" {
		t.Errorf("both roles departing and unlisted: %v, want [c-replicant-1] (replicants go first)", got)
	}
	f.state.Replicant.pod("c-replicant-1").Status.Conditions[0].Status = "False"
	if got := DepartingUnlisted(&f.state); got != nil {
		t.Errorf("departing replicant not Ready: %v, want none (the core waits its turn)", got)
	}
	f.state.Replicant.Want = 2
	if got := DepartingUnlisted(&f.state); len(got) != 1 || got[0] != "c-core-2" {
		t.Errorf("only the core departing: %v, want [c-core-2]", got)
	}
	f.state.Core.Want = 3
	if got := DepartingUnlisted(&f.state); got != nil {
		t.Errorf("no scale-in, nothing outdated: %v, want none", got)
	}
	f.state.Core.pod("c-core-2").Labels["controller-revision-hash"] = "r0"
	f.state.Core.pod("c-core-1").Labels["controller-revision-hash"] = "r0" // outdated, but listed
	if got := DepartingUnlisted(&f.state); len(got) != 1 || got[0] != "c-core-2" {
		t.Errorf("rollout, one outdated pod unlisted: %v, want [c-core-2]", got)
	}
	for i := range f.state.Nodes {
		f.state.Nodes[i].Edition = "Opensource"
	}
	if got := DepartingUnlisted(&f.state); got != nil {
		t.Errorf("a cluster that cannot evacuate: %v, want none", got)
	}
	f.state.NodesKnown = false
	if got := DepartingUnlisted(&f.state); got != nil {
		t.Errorf("no node answered: %v, want none", got)
	}
}
