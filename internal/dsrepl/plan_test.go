package dsrepl

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// world builds a Reading: sites by ID (node, up) and DBs whose shards hold the given sites.
type world struct {
	sites map[string]emqxapi.DSSite
	dbs   []emqxapi.DSDB
}

func newWorld() *world { return &world{sites: map[string]emqxapi.DSSite{}} }

func (w *world) site(id, node string, up bool) *world {
	w.sites[id] = emqxapi.DSSite{Node: node, Up: up}
	return w
}

// db adds a DB of n shards, each holding replicas (status from the site's up flag: up or lost)
// and the given transitions.
func (w *world) db(name string, n int, replicas []string, transitions ...emqxapi.DSTransition) *world {
	d := emqxapi.DSDB{Name: name}
	for i := 0; i < n; i++ {
		sh := emqxapi.DSShard{ID: fmt.Sprint(i), Transitions: transitions}
		for _, s := range replicas {
			status := "up"
			if !w.sites[s].Up {
				status = "lost"
			}
			sh.Replicas = append(sh.Replicas, emqxapi.DSReplica{Site: s, Status: status})
		}
		d.Shards = append(d.Shards, sh)
	}
	w.dbs = append(w.dbs, d)
	return w
}

func (w *world) reading() *Reading { return &Reading{Sites: w.sites, DBs: w.dbs} }

func cores(n int, running ...bool) []Core {
	out := make([]Core, n)
	for i := range out {
		out[i] = Core{Node: node(i), Ordinal: i, Running: len(running) <= i || running[i]}
	}
	return out
}

func node(i int) string {
	return fmt.Sprintf("emqx@emqx-core-%d.emqx-headless.default.svc.cluster.local", i)
}

// three running cores with sites A, B, C.
func threeCores() *world {
	return newWorld().site("A", node(0), true).site("B", node(1), true).site("C", node(2), true)
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name       string
		state      State
		wantReady  bool
		wantReason string
		wantAssign []Assignment
		wantForget []string
		wantHold   []string // nodes held
		wantEvict  []Eviction
		wantInMsg  string
	}{{
		name:  "rule 1: no DB, DS not in use: nothing",
		state: State{Reading: threeCores().reading(), Cores: cores(3), WantCores: 3, ReplicationFactor: 3},
	}, {
		name:       "a 3-core cluster whose shards sit on all three sites is replicated",
		state:      State{Reading: threeCores().db("messages", 4, []string{"A", "B", "C"}).reading(), Cores: cores(3), WantCores: 3, ReplicationFactor: 3},
		wantReady:  true,
		wantReason: ReasonReplicated,
	}, {
		name: "rule 5: initial allocation on the first node only: assigned to every core site",
		state: State{Reading: threeCores().db("messages", 4, []string{"A"}).db("sessions", 4, []string{"A"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "C"}}, {"sessions", []string{"A", "B", "C"}}},
	}, {
		name: "rule 5: a replicant's site in the replica sets is moved out to core sites",
		state: State{Reading: threeCores().site("R", "emqx@10.0.0.9", true).db("messages", 2, []string{"A", "B", "R"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "C"}}},
	}, {
		name: "rule 4: scale-out waits until the new core runs with a site",
		state: State{Reading: threeCores().db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: append(cores(3), Core{Node: node(3), Ordinal: 3, Running: true}), WantCores: 4, ReplicationFactor: 3},
		wantReason: ReasonWaitingForCoreSites,
		wantInMsg:  node(3),
	}, {
		name: "rule 4: a staying core that is down (restarting) changes nothing",
		state: State{Reading: newWorld().site("A", node(0), true).site("B", node(1), false).site("C", node(2), true).site("D", node(3), true).
			db("messages", 2, []string{"A", "B", "C"}).reading(), Cores: cores(4), WantCores: 4, ReplicationFactor: 3},
		wantReason: ReasonWaitingForCoreSites,
		wantInMsg:  node(1),
	}, {
		name: "rule 5: scale-out: the new core's site joins",
		state: State{Reading: threeCores().site("D", node(3), true).db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(4), WantCores: 4, ReplicationFactor: 3},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "C", "D"}}},
	}, {
		name: "rule 6: transitions running: not Ready, the DB and counts named",
		state: State{Reading: threeCores().site("D", node(3), true).db("messages", 2, []string{"A", "B", "C"},
			emqxapi.DSTransition{Site: "D", Transition: "joining"}).reading(),
			Cores: cores(4), WantCores: 4, ReplicationFactor: 3},
		wantReason: ReasonReplicasMoving,
		wantInMsg:  "DB messages: 2 replica transitions running over 2 shards",
	}, {
		name: "rules 2 and 5: scale-in 5 → 3: the departing cores keep their pods while their sites hold shards",
		state: State{Reading: threeCores().site("D", node(3), true).site("E", node(4), true).db("messages", 2, []string{"C", "D", "E"}).reading(),
			Cores: cores(5), WantCores: 3, ReplicationFactor: 3},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "C"}}},
		wantHold:   []string{node(3), node(4)},
	}, {
		name: "rule 2: a departing core whose shards moved away is not held",
		state: State{Reading: threeCores().site("D", node(3), true).db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(4), WantCores: 3, ReplicationFactor: 3},
		wantReady:  true,
		wantReason: ReasonReplicated,
	}, {
		name: "rule 2: a departing core still joining a shard is held",
		state: State{Reading: threeCores().site("D", node(3), true).db("messages", 1, []string{"A", "B", "C"},
			emqxapi.DSTransition{Site: "D", Transition: "joining"}).reading(),
			Cores: cores(4), WantCores: 3, ReplicationFactor: 3},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "C"}}},
		wantHold:   []string{node(3)},
	}, {
		name: "rule 3: scale-in below the replication factor: every departing core held, nothing assigned",
		state: State{Reading: threeCores().db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(3), WantCores: 2, ReplicationFactor: 3},
		wantReason: ReasonBelowReplicationFactor,
		wantHold:   []string{node(2)},
		wantInMsg:  AnnotationAcceptLowerRedundancy,
	}, {
		name: "rule 3: accepted lower redundancy: the departing core's shards move",
		state: State{Reading: threeCores().db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(3), WantCores: 2, ReplicationFactor: 3, AcceptLowerRedundancy: true},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B"}}},
		wantHold:   []string{node(2)},
	}, {
		name: "rule 5: a lost site in the replica sets is dropped by the assignment",
		state: State{Reading: threeCores().site("X", "emqx@old", false).db("messages", 2, []string{"A", "B", "X"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "C"}}},
	}, {
		name: "rule 7: lost sites holding nothing are forgotten on 6.x (a departed core's, a replicant's)",
		state: State{Reading: threeCores().site("X", node(3), false).site("R", "emqx@10.0.0.9", false).
			db("messages", 2, []string{"A", "B", "C"}).reading(), Cores: cores(3), WantCores: 3, ReplicationFactor: 3, CanForget: true},
		wantReady:  true,
		wantReason: ReasonReplicated,
		wantForget: []string{"R", "X"},
	}, {
		name: "rule 7: before 6.0 they are reported",
		state: State{Reading: threeCores().site("X", node(3), false).db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3},
		wantReady:  true,
		wantReason: ReasonLeftoverSites,
		wantInMsg:  "X",
	}, {
		name: "rule 8: replication factor above the core sites: accepted, said",
		state: State{Reading: newWorld().site("A", node(0), true).site("B", node(1), true).db("messages", 2, []string{"A", "B"}).reading(),
			Cores: cores(2), WantCores: 2, ReplicationFactor: 3},
		wantReady:  true,
		wantReason: ReasonRFAboveCoreSites,
		wantInMsg:  "only 2 core sites",
	}, {
		name: "rule 2: a departing replicant whose site holds a replica keeps its pod too",
		state: State{Reading: threeCores().site("R", "emqx@replicant-1", true).db("messages", 2, []string{"A", "B", "R"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3, DepartingReplicants: []string{"emqx@replicant-1"}},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "C"}}},
		wantHold:   []string{"emqx@replicant-1"},
	}, {
		name: "rule 3: a departing core whose pod is already gone still counts (no scale-in below the factor by a missing pod)",
		state: State{Reading: threeCores().db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(3, true, true, false), WantCores: 2, ReplicationFactor: 3},
		wantReason: ReasonBelowReplicationFactor,
		wantHold:   []string{node(2)},
	}, {
		name: "rule 7: before 6.0 a long list of leftovers is cut short",
		state: State{Reading: threeCores().site("L1", "x1", false).site("L2", "x2", false).site("L3", "x3", false).site("L4", "x4", false).
			site("L5", "x5", false).site("L6", "x6", false).site("L7", "x7", false).db("messages", 1, []string{"A", "B", "C"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3},
		wantReady:  true,
		wantReason: ReasonLeftoverSites,
		wantInMsg:  "7 sites of departed nodes remain (this release cannot forget them): L1, L2, L3, L4, L5 and 2 more",
	}, {
		name: "rule 4: a core back on a new volume holds a stale site: its shards go to the other cores",
		state: State{Reading: threeCores().site("D", node(3), true).db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(4), WantCores: 4, ReplicationFactor: 3, CanForget: true,
			Volumes: volumes("v0", "v1", "v2-new", "v3"), Known: known("A", "v0", "B", "v1", "C", "v2", "D", "v3")},
		wantReason: ReasonAssigningReplicas,
		wantAssign: []Assignment{{"messages", []string{"A", "B", "D"}}},
	}, {
		name: "rule 4: the stale core may be down (its new pod not started): nothing waits for it",
		state: State{Reading: newWorld().site("A", node(0), true).site("B", node(1), true).site("C", node(2), false).site("D", node(3), true).
			db("messages", 2, []string{"A", "B", "D"}).reading(),
			Cores: cores(4, true, true, false, true), WantCores: 4, ReplicationFactor: 3, CanForget: true,
			Volumes: volumes("v0", "v1", "v2-new", "v3"), Known: known("A", "v0", "B", "v1", "C", "v2", "D", "v3")},
		wantReason: ReasonRetiringSites,
		wantEvict:  []Eviction{{Node: node(2), Site: "C"}},
	}, {
		name: "rule 6: a stale site still in transitions waits",
		state: State{Reading: threeCores().site("D", node(3), true).db("messages", 2, []string{"A", "B", "C", "D"},
			emqxapi.DSTransition{Site: "C", Transition: "leaving"}).reading(),
			Cores: cores(4), WantCores: 4, ReplicationFactor: 3, CanForget: true,
			Volumes: volumes("v0", "v1", "v2-new", "v3"), Known: known("A", "v0", "B", "v1", "C", "v2", "D", "v3")},
		wantReason: ReasonReplicasMoving,
		wantInMsg:  "moving the replicas off sites C, whose cores came back on new volumes",
	}, {
		name: "rule 6: before 6.0 a stale site cannot be forgotten over REST: the manual steps are said, nobody is made to leave",
		state: State{Reading: newWorld().site("A", node(0), true).site("B", node(1), true).site("C", node(2), true).site("D", node(3), true).
			db("messages", 2, []string{"A", "B", "D"}).reading(),
			Cores: cores(4), WantCores: 4, ReplicationFactor: 3,
			Volumes: volumes("v0", "v1", "v2-new", "v3"), Known: known("A", "v0", "B", "v1", "C", "v2", "D", "v3")},
		wantReason: ReasonSiteNeedsForget,
		wantInMsg:  "emqx ctl ds forget SITE",
	}, {
		name: "a PVC made again on the same PV keeps its data: not stale",
		state: State{Reading: threeCores().db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3, CanForget: true,
			Volumes: volumes("v0", "v1", "v2-new"), PVs: map[string]string{node(2): "pv-2"},
			Known: []v2beta1.DSCoreSite{{Node: node(0), Site: "A", Volume: "v0"}, {Node: node(1), Site: "B", Volume: "v1"}, {Node: node(2), Site: "C", Volume: "v2", PersistentVolume: "pv-2"}}},
		wantReady:  true,
		wantReason: ReasonReplicated,
	}, {
		name: "every staying core stale: nowhere to put the shards, nothing assigned",
		state: State{Reading: newWorld().site("A", node(0), true).db("messages", 2, []string{"A"}).reading(),
			Cores: cores(1), WantCores: 1, ReplicationFactor: 3, CanForget: true,
			Volumes: volumes("v0-new"), Known: known("A", "v0")},
		wantReason: ReasonWaitingForCoreSites,
	}, {
		name: "a core on the volume it had keeps its site; a first sight records it",
		state: State{Reading: threeCores().db("messages", 2, []string{"A", "B", "C"}).reading(),
			Cores: cores(3), WantCores: 3, ReplicationFactor: 3, CanForget: true,
			Volumes: volumes("v0", "v1", "v2"), Known: known("A", "v0", "B", "v1")},
		wantReady:  true,
		wantReason: ReasonReplicated,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Decide(c.state)
			if !slices.Equal(p.Evict, c.wantEvict) {
				t.Errorf("evict %v, want %v", p.Evict, c.wantEvict)
			}
			if p.Ready != c.wantReady || p.Reason != c.wantReason {
				t.Errorf("ready %v reason %q (%s), want %v %q", p.Ready, p.Reason, p.Message, c.wantReady, c.wantReason)
			}
			if !slices.EqualFunc(p.Assign, c.wantAssign, func(a, b Assignment) bool { return a.DB == b.DB && slices.Equal(a.Sites, b.Sites) }) {
				t.Errorf("assign %v, want %v", p.Assign, c.wantAssign)
			}
			if !slices.Equal(p.Forget, c.wantForget) {
				t.Errorf("forget %v, want %v", p.Forget, c.wantForget)
			}
			var held []string
			for n := range p.Hold {
				held = append(held, n)
			}
			slices.Sort(held)
			if !slices.Equal(held, c.wantHold) {
				t.Errorf("held %v, want %v", held, c.wantHold)
			}
			if !strings.Contains(p.Message, c.wantInMsg) {
				t.Errorf("message %q does not say %q", p.Message, c.wantInMsg)
			}
			if p.InUse != (c.wantReason != "") {
				t.Errorf("in use %v", p.InUse)
			}
		})
	}
}

func TestSummarizeIsTheVendorShape(t *testing.T) {
	w := newWorld().site("A", "a", true).site("B", "b", true).site("X", "x", false)
	w.dbs = []emqxapi.DSDB{{Name: "sessions", Shards: []emqxapi.DSShard{
		{ID: "0", Replicas: []emqxapi.DSReplica{{Site: "A", Status: "up"}, {Site: "X", Status: "lost"}}},
		{ID: "1", Replicas: []emqxapi.DSReplica{{Site: "A", Status: "up"}, {Site: "B", Status: "up"}, {Site: "X", Status: "lost"}},
			Transitions: []emqxapi.DSTransition{{Site: "X", Transition: "leaving"}}},
	}}, {Name: "messages"}}
	got := Summarize(w.dbs)
	if len(got) != 2 || got[0].Name != "messages" || got[1].Name != "sessions" {
		t.Fatalf("DBs not sorted by name: %+v", got)
	}
	s := got[1]
	if s.NumShards != 2 || s.NumShardReplicas != 5 || s.LostShardReplicas != 2 || s.NumTransitions != 1 || s.MinReplicas != 2 || s.MaxReplicas != 3 {
		t.Errorf("summary %+v", s)
	}
	if s.Stable() || !got[0].Stable() {
		t.Errorf("stable: sessions %v messages %v", s.Stable(), got[0].Stable())
	}
}

func TestHoldEveryDepartingWhenDSCannotBeJudged(t *testing.T) {
	s := State{Cores: cores(5), WantCores: 3, DepartingReplicants: []string{"emqx@replicant-2"}}
	hold := HoldEveryDeparting(s, "durable storage could not be read")
	var held []string
	for n := range hold {
		held = append(held, n)
	}
	slices.Sort(held)
	if want := []string{node(3), node(4), "emqx@replicant-2"}; !slices.Equal(held, want) {
		t.Errorf("held %v, want %v", held, want)
	}
}

// volumes are the cores' current data volumes, by ordinal.
func volumes(uids ...string) map[string]string {
	out := map[string]string{}
	for i, u := range uids {
		out[node(i)] = u
	}
	return out
}

// known records sites and volumes for cores 0, 1, … in turn (site, volume, site, volume, …).
func known(pairs ...string) []v2beta1.DSCoreSite {
	var out []v2beta1.DSCoreSite
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, v2beta1.DSCoreSite{Node: node(i / 2), Site: pairs[i], Volume: pairs[i+1]})
	}
	return out
}

func TestDecideRecordsEachCoresSite(t *testing.T) {
	s := State{Reading: threeCores().site("D", node(3), true).db("messages", 2, []string{"A", "B", "D"}).reading(),
		Cores: cores(4), WantCores: 4, ReplicationFactor: 3, CanForget: true,
		Volumes: volumes("v0", "v1", "v2-new", "v3"), Known: known("A", "v0", "B", "v1", "C", "v2")}
	got := Decide(s).CoreSites
	want := []v2beta1.DSCoreSite{{Node: node(0), Site: "A", Volume: "v0"}, {Node: node(1), Site: "B", Volume: "v1"},
		{Node: node(2), Site: "C", Volume: "v2"}, {Node: node(3), Site: "D", Volume: "v3"}}
	if !slices.Equal(got, want) {
		t.Errorf("records %v, want %v (the stale one kept as it was)", got, want)
	}
}

// TestDecideKeepsTheKnownVolumeWhileThePVCIsMadeAgain: between the old PVC's deletion and the new
// one, a core has no volume to read; the record keeps the old one, so the new PVC is seen as new.
func TestDecideKeepsTheKnownVolumeWhileThePVCIsMadeAgain(t *testing.T) {
	s := State{Reading: newWorld().site("A", node(0), true).site("B", node(1), false).site("C", node(2), true).
		db("messages", 2, []string{"A", "B", "C"}).reading(),
		Cores: cores(3, true, false, true), WantCores: 3, ReplicationFactor: 3, CanForget: true,
		Volumes: map[string]string{node(0): "v0", node(2): "v2"}, Known: known("A", "v0", "B", "v1", "C", "v2")}
	p := Decide(s)
	if !slices.Contains(p.CoreSites, v2beta1.DSCoreSite{Node: node(1), Site: "B", Volume: "v1"}) {
		t.Fatalf("records %v: the known volume of core 1 is lost", p.CoreSites)
	}
	s.Known, s.Volumes[node(1)] = p.CoreSites, "v1-new"
	if p := Decide(s); len(p.Assign) != 1 || !slices.Equal(p.Assign[0].Sites, []string{"A", "C"}) {
		t.Errorf("with the new PVC: assign %v, want the shards off B", p.Assign)
	}
}

// TestDecideKeepsWhatItDidNotSee: a core with no site in this reading (booting, unclaimed)
// keeps its record.
func TestDecideKeepsWhatItDidNotSee(t *testing.T) {
	s := State{Reading: newWorld().site("A", node(0), true).site("C", node(2), true).db("messages", 2, []string{"A", "C"}).reading(),
		Cores: cores(3, true, false, true), WantCores: 3, ReplicationFactor: 3, CanForget: true,
		Volumes: volumes("v0", "v1", "v2"), Known: known("A", "v0", "B", "v1", "C", "v2")}
	if got := Decide(s).CoreSites; !slices.Contains(got, v2beta1.DSCoreSite{Node: node(1), Site: "B", Volume: "v1"}) {
		t.Errorf("records %v: core 1's record is lost", got)
	}
}
