package dsrepl

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// Reasons of the DSReplicationReady condition.
const (
	ReasonReplicated             = "Replicated"
	ReasonRFAboveCoreSites       = "ReplicationFactorAboveCoreSites"
	ReasonLeftoverSites          = "LeftoverSites"
	ReasonBelowReplicationFactor = "ScaleInBelowReplicationFactor"
	ReasonWaitingForCoreSites    = "WaitingForCoreSites"
	ReasonAssigningReplicas      = "AssigningReplicas"
	ReasonReplicasMoving         = "ReplicasMoving"
	ReasonLostReplicas           = "LostReplicas"
	ReasonUnevenReplicas         = "UnevenReplicas"
	ReasonRetiringSites          = "RetiringSites"
	ReasonSiteNeedsForget        = "StaleSiteNeedsForget"
	reasonDepartingHoldsShard    = "departing node still holds replicas"
)

// Core is one core of the cluster by StatefulSet ordinal: its EMQX node name and whether EMQX
// reports it running (false too when its pod is missing).
type Core struct {
	Node    string
	Ordinal int
	Running bool
}

// State is what a decision needs.
type State struct {
	Reading *Reading
	// Cores are the cores by ordinal, 0 to the StatefulSet's size (or WantCores, whichever is
	// larger) - 1, whether or not their pods exist now; WantCores is
	// spec.coreTemplate.spec.replicas: cores with an ordinal at or beyond it are departing.
	Cores     []Core
	WantCores int
	// DepartingReplicants are the nodes of replicants being scaled away: a replicant site that
	// still holds a replica keeps its pod too (EMQX lets replicants hold replicas, §1.6).
	DepartingReplicants []string
	// ReplicationFactor is the configured factor (ReplicationFactor(e)).
	ReplicationFactor     int
	AcceptLowerRedundancy bool
	// CanForget: the release has PUT /ds/sites/{site}/forget (6.0+; §1.3).
	CanForget bool
	// Volumes are the UIDs of the PVCs the cores' data directories are on now, by node; Known
	// are the sites last seen per core node with the volume then (status.dsReplication.coreSites).
	Volumes map[string]string
	// PVs are the PVs those PVCs are bound to, by node ("" unknown).
	PVs   map[string]string
	Known []v2beta1.DSCoreSite
}

// Eviction retires the site of a core that is back on a new volume: the node is made to leave
// the cluster (force_leave, running or not) and the site, lost then, is forgotten; the node
// rejoins (the operator invites it back once it runs alone) and claims a new site.
type Eviction struct {
	Node, Site string
}

// Assignment is a PUT /ds/storages/{DB}/replicas with Sites.
type Assignment struct {
	DB    string
	Sites []string
}

// Plan is the decision: the writes to make, the departing cores that must keep their pods, and
// what the DSReplicationReady condition says.
type Plan struct {
	// InUse is false when the cluster has no DS DB: no condition, no status, nothing to do.
	InUse   bool
	Summary []v2beta1.DSDBReplicationStatus
	Assign  []Assignment
	// Forget are lost sites holding no replica, to be forgotten (6.0+).
	Forget []string
	// Hold names the departing core nodes whose pods must stay, and why.
	Hold map[string]string
	// Evict are the sites of cores back on a new volume, their replicas moved away.
	Evict []Eviction
	// CoreSites is the record for status: each core's site and volume.
	CoreSites []v2beta1.DSCoreSite
	// Ready, Reason and Message are the DSReplicationReady condition.
	Ready           bool
	Reason, Message string
}

// Decide returns what to do about DS replication. Rules, in order:
//  1. no DS DB: DS is not in use; nothing to do, nothing to report;
//  2. a departing core whose site still holds (or is joining) a shard keeps its pod: its data
//     must move to the staying cores before the pod stops, or a shard could lose a replica
//     it still needs (the lifecycle plan waits on Hold);
//  3. a scale-in that would leave fewer cores than the replication factor stops every departing
//     core and changes no replica set, unless the user accepted lower redundancy (annotation);
//  4. every staying core runs and owns a site before any replica set changes: a change made
//     without a site would put the shards on fewer nodes than asked, and a site that is down
//     cannot take a replica (its addition would wait for ever); a core back on a new volume
//     (a replaced PVC) is the exception: its old site's data is gone, so the site is stale and
//     the core counts as having none;
//  5. each DB whose target replica sets differ from the staying cores' sites is assigned them
//     (this also moves shards off replicant and departing sites, and drops lost sites, so no
//     change keeps a lost site in a target set, which EMQX refuses);
//  6. a stale site, once it holds no replica, is retired: its node leaves the cluster and the
//     site, lost then, is forgotten, so the node can rejoin and claim a new site (EMQX forgets a
//     site only while its node is out of the cluster, and a node cannot claim a second site);
//     not Ready while transitions run, a replica is lost, or shards hold unequal replica counts;
//  7. lost sites holding nothing are forgotten (6.0+; EMQX never forgets them by itself); before
//     6.0 they are reported as leftovers; a staying core's site is never forgotten;
//  8. a replication factor above the number of core sites is accepted (EMQX uses the sites it
//     has) and said in the condition.
func Decide(s State) Plan {
	r := s.Reading
	if !r.InUse() {
		return Plan{}
	}
	p := Plan{InUse: true, Summary: Summarize(r.DBs), Hold: map[string]string{}}
	staying, departing := s.split()

	stale := staleSites(s, staying)
	p.CoreSites = records(s, staying, stale)
	holdDepartingWithShards(s.Reading, departing, s.DepartingReplicants, &p)
	if len(departing) > 0 && s.WantCores < s.ReplicationFactor && !s.AcceptLowerRedundancy {
		why := fmt.Sprintf("scaling cores in to %d would leave fewer than the replication factor %d; set %s: \"true\" to accept fewer replicas",
			s.WantCores, s.ReplicationFactor, AnnotationAcceptLowerRedundancy)
		for _, c := range departing {
			p.Hold[c.Node] = why
		}
		return p.notReady(ReasonBelowReplicationFactor, why)
	}

	target, missing := stayingSites(r, staying, stale)
	if len(target) == 0 {
		// EMQX refuses an empty replica set; with every core's site stale there is nowhere to go.
		missing = append(missing, "every staying core (their sites are stale)")
	}
	if len(missing) > 0 {
		return p.notReady(ReasonWaitingForCoreSites, fmt.Sprintf("waiting for core nodes to run with a durable-storage site: %s", strings.Join(missing, ", ")))
	}
	for _, db := range r.DBs {
		if !slices.Equal(TargetUnion(db), target) {
			p.Assign = append(p.Assign, Assignment{DB: db.Name, Sites: target})
		}
	}
	if len(p.Assign) > 0 {
		return p.notReady(ReasonAssigningReplicas, fmt.Sprintf("assigning the shards of %s to the %d core sites", dbNames(p.Assign), len(target)))
	}
	if len(stale) > 0 {
		return p.retire(r, stale, s.CanForget)
	}
	if reason, msg := unsettled(p.Summary); reason != "" {
		return p.notReady(reason, msg)
	}

	leftovers := lostAndEmpty(r, staying)
	if s.CanForget {
		p.Forget = leftovers
	}
	p.Ready, p.Reason = true, ReasonReplicated
	p.Message = fmt.Sprintf("%d DBs replicated on %d core sites", len(r.DBs), len(target))
	switch {
	case len(leftovers) > 0 && !s.CanForget:
		p.Reason = ReasonLeftoverSites
		p.Message += fmt.Sprintf("; %d sites of departed nodes remain (this release cannot forget them): %s", len(leftovers), firstFew(leftovers))
	case s.ReplicationFactor > len(target):
		p.Reason = ReasonRFAboveCoreSites
		p.Message = fmt.Sprintf("replication factor %d, but only %d core sites: each shard has %d replicas", s.ReplicationFactor, len(target), len(target))
	}
	return p
}

// Moving says a DSReplicationReady reason means replicas on their way (an assignment or
// transitions), not a wait for the user or a loss.
func Moving(reason string) bool {
	return reason == ReasonAssigningReplicas || reason == ReasonReplicasMoving || reason == ReasonRetiringSites
}

func (p Plan) notReady(reason, msg string) Plan {
	p.Ready, p.Reason, p.Message = false, reason, msg
	return p
}

// split sorts the core pods into staying (ordinal below WantCores) and departing.
func (s State) split() (staying, departing []Core) {
	for _, c := range s.Cores {
		if c.Ordinal < s.WantCores {
			staying = append(staying, c)
		} else {
			departing = append(departing, c)
		}
	}
	return staying, departing
}

func holdDepartingWithShards(r *Reading, departing []Core, replicants []string, p *Plan) {
	nodes := slices.Clone(replicants)
	for _, c := range departing {
		nodes = append(nodes, c.Node)
	}
	for _, node := range nodes {
		site := r.SiteOfNode(node)
		if site == "" {
			continue
		}
		if n, dbs := r.ShardsOf(site); n > 0 {
			p.Hold[node] = fmt.Sprintf("%s: site %s still holds %d shard replicas of %s; waiting for them to move",
				reasonDepartingHoldsShard, site, n, strings.Join(dbs, ", "))
		}
	}
}

// HoldEveryDeparting keeps every departing node (cores beyond WantCores, the departing
// replicants) with the reason why: for a pass that cannot judge DS (a failed read, a node list
// without the nodes' releases), since releasing one could stop the last copies of a shard.
func HoldEveryDeparting(s State, why string) map[string]string {
	hold := map[string]string{}
	_, departing := s.split()
	for _, c := range departing {
		hold[c.Node] = why
	}
	for _, n := range s.DepartingReplicants {
		hold[n] = why
	}
	return hold
}

// staleSites are the sites of staying cores whose data directory is on another volume than when
// the operator last saw them own the site (a replaced PVC): the site's data is gone with the old
// volume, and the node, back under the same name, cannot claim a new site while the old one is
// known (§1.1, trap 9). By node.
func staleSites(s State, staying []Core) map[string]string {
	stale := map[string]string{}
	for _, k := range s.Known {
		cur := s.Volumes[k.Node]
		if k.Volume == "" || cur == "" || cur == k.Volume || !slices.ContainsFunc(staying, func(c Core) bool { return c.Node == k.Node }) {
			continue
		}
		if pv := s.PVs[k.Node]; pv != "" && pv == k.PersistentVolume {
			continue // a new PVC on the same PV: the same data
		}
		if site := s.Reading.Sites[k.Site]; site.Node == k.Node {
			stale[k.Node] = k.Site
		}
	}
	return stale
}

// records is what status keeps of each staying core's site: the one it owns now on its current
// volume, or, for a stale site, the old record (so that the site stays marked until retired).
func records(s State, staying []Core, stale map[string]string) []v2beta1.DSCoreSite {
	var out []v2beta1.DSCoreSite
	for _, c := range staying {
		if site, ok := stale[c.Node]; ok {
			for _, k := range s.Known {
				if k.Node == c.Node && k.Site == site {
					out = append(out, k)
				}
			}
			continue
		}
		site := s.Reading.SiteOfNode(c.Node)
		if site == "" {
			// Not seen this pass (booting, unclaimed): what was known stands.
			for _, k := range s.Known {
				if k.Node == c.Node {
					out = append(out, k)
				}
			}
			continue
		}
		rec := v2beta1.DSCoreSite{Node: c.Node, Site: site, Volume: s.Volumes[c.Node], PersistentVolume: s.PVs[c.Node]}
		if rec.Volume == "" {
			// The pod (or its PVC) is being made again: what was known stands, so that a new
			// volume is still told from the old one when it comes.
			for _, k := range s.Known {
				if k.Node == c.Node && k.Site == site {
					rec = k
				}
			}
		}
		out = append(out, rec)
	}
	return out
}

// retire evicts the stale sites that hold no replica any more; the others wait for their
// transitions (rule 5 already assigned their shards to the other cores).
func (p Plan) retire(r *Reading, stale map[string]string, canForget bool) Plan {
	if !canForget {
		// 5.x has no REST forget: a node made to leave would come back to the same conflict.
		return p.notReady(ReasonSiteNeedsForget, fmt.Sprintf("cores back on new volumes cannot claim new sites while their old ones are known, and this release has no REST forget: "+
			"run `emqx ctl cluster leave` on each, then `emqx ctl ds forget SITE` on another core, for %s", joinEvictions(staleList(stale))))
	}
	var waiting []string
	for _, node := range slices.Sorted(maps.Keys(stale)) {
		site := stale[node]
		if n, _ := r.ShardsOf(site); n > 0 {
			waiting = append(waiting, site)
			continue
		}
		p.Evict = append(p.Evict, Eviction{Node: node, Site: site})
	}
	if len(waiting) > 0 {
		return p.notReady(ReasonReplicasMoving, fmt.Sprintf("moving the replicas off sites %s, whose cores came back on new volumes", strings.Join(waiting, ", ")))
	}
	return p.notReady(ReasonRetiringSites, fmt.Sprintf("retiring sites %s: their cores came back on new volumes and rejoin with new sites", joinEvictions(p.Evict)))
}

func staleList(stale map[string]string) []Eviction {
	var out []Eviction
	for _, node := range slices.Sorted(maps.Keys(stale)) {
		out = append(out, Eviction{Node: node, Site: stale[node]})
	}
	return out
}

func joinEvictions(ev []Eviction) string {
	out := make([]string, len(ev))
	for i, e := range ev {
		out[i] = e.Site + " (" + e.Node + ")"
	}
	return strings.Join(out, ", ")
}

// stayingSites returns the sorted sites of the staying cores, or the nodes that do not run
// with a site yet. A core whose site is stale counts with neither: its shards go to the others.
func stayingSites(r *Reading, staying []Core, stale map[string]string) (sites, missing []string) {
	for _, c := range staying {
		if _, ok := stale[c.Node]; ok {
			continue
		}
		site := r.SiteOfNode(c.Node)
		if !c.Running || site == "" || !r.Sites[site].Up {
			missing = append(missing, c.Node)
			continue
		}
		sites = append(sites, site)
	}
	sort.Strings(sites)
	return sites, missing
}

// unsettled names the first DB with transitions, lost replicas or uneven replica counts.
func unsettled(summary []v2beta1.DSDBReplicationStatus) (reason, msg string) {
	for _, d := range summary {
		switch {
		case d.NumTransitions > 0:
			return ReasonReplicasMoving, fmt.Sprintf("DB %s: %d replica transitions running over %d shards", d.Name, d.NumTransitions, d.NumShards)
		case d.LostShardReplicas > 0:
			return ReasonLostReplicas, fmt.Sprintf("DB %s: %d of %d shard replicas are on lost sites", d.Name, d.LostShardReplicas, d.NumShardReplicas)
		case d.MinReplicas != d.MaxReplicas:
			return ReasonUnevenReplicas, fmt.Sprintf("DB %s: shards hold between %d and %d replicas", d.Name, d.MinReplicas, d.MaxReplicas)
		}
	}
	return "", ""
}

// lostAndEmpty are the sites that are not up, hold no replica and do not belong to a staying
// core (a staying core's site comes back with its data volume and must stay known).
func lostAndEmpty(r *Reading, staying []Core) []string {
	keep := map[string]bool{}
	for _, c := range staying {
		keep[c.Node] = true
	}
	var out []string
	for id, site := range r.Sites {
		if site.Up || keep[site.Node] {
			continue
		}
		if n, _ := r.ShardsOf(id); n == 0 {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// firstFew lists up to five sites (a 5.x cluster gathers one per replicant restart).
func firstFew(sites []string) string {
	if len(sites) <= 5 {
		return strings.Join(sites, ", ")
	}
	return strings.Join(sites[:5], ", ") + fmt.Sprintf(" and %d more", len(sites)-5)
}

func dbNames(as []Assignment) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.DB
	}
	return strings.Join(names, ", ")
}
