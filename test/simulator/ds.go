package simulator

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gurkankaymak/hocon"

	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// Durable storage (DS) replication, after shared/reference/emqx6-behaviour.md §1.
//
// Every node of 5.9+ (EMQX Enterprise) and of 6.x has a site: a random ID kept in its data dir
// (a core's PVC, persist here; a replicant mints a new one at every start). A running member
// claims its site in its cluster's site table unless the table maps another site to its node
// name already; it then runs UNCLAIMED until that site is forgotten. A site's status is its
// node's: running member → up, stopped member → down, anything else → lost.
//
// With durable sessions enabled the node opens the DBs of its release; the first such node
// fixes their settings. Once the cluster has n_sites non-lost sites, each DB's shards are
// allocated (compute_allocation over the sorted site list). Every shard then has a current and
// a target replica set; their differences are pending transitions, run one per shard at a time,
// each taking Options.DSTransitionTime. Nothing runs in the background: the state is brought up
// to date (claims, DBs, allocation, due transitions) whenever it is read or written and whenever
// a member boots, stops, joins or leaves (dsSync).

// Site statuses (node_status/1).
const (
	siteUp   = "up"
	siteDown = "down"
	siteLost = "lost"
)

// dsConfig is a node's durable-storage configuration, read at start.
type dsConfig struct {
	enabled bool
	// replicationFactor, nShards and nSites are durable_storage.messages's settings; the
	// simulator applies them to every DB of the release (EMQX 6 configures each DB apart, and
	// n_sites at the root; the messages DB's settings stand for all of them here).
	replicationFactor, nShards, nSites int
}

// readDSConfig reads durable_sessions.enable and the messages DB's replication_factor, n_shards
// and n_sites (5.9/5.10: durable_storage.messages.n_sites; 6.x: root durable_storage.n_sites)
// from the environment (EMQX_ variables win) or emqx.conf. A value that is not a positive
// integer keeps the default (EMQX would refuse to start; the simulator does not model that).
func readDSConfig(version string, env map[string]string, conf *hocon.Config) dsConfig {
	setting := func(envName, path string) string {
		if v, ok := env[envName]; ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
		if v, _ := emqxconf.Lookup(conf, path); v != nil {
			return strings.Trim(strings.TrimSpace(v.String()), `"`)
		}
		return ""
	}
	count := func(envName, path string, def int) int {
		if n, err := strconv.Atoi(setting(envName, path)); err == nil && n > 0 {
			return n
		}
		return def
	}
	d := dsConfig{
		enabled:           setting("EMQX_DURABLE_SESSIONS__ENABLE", "durable_sessions.enable") == "true",
		replicationFactor: count("EMQX_DURABLE_STORAGE__MESSAGES__REPLICATION_FACTOR", "durable_storage.messages.replication_factor", 3),
		nShards:           count("EMQX_DURABLE_STORAGE__MESSAGES__N_SHARDS", "durable_storage.messages.n_shards", 16),
	}
	if majorOf(version) >= 6 {
		d.nSites = count("EMQX_DURABLE_STORAGE__N_SITES", "durable_storage.n_sites", 1)
	} else {
		d.nSites = count("EMQX_DURABLE_STORAGE__MESSAGES__N_SITES", "durable_storage.messages.n_sites", 1)
	}
	return d
}

// majorOf is a release's major version (0 when unparsable).
func majorOf(version string) int {
	major, _ := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	return major
}

// hasDS: EMQX Enterprise 5.9+ and every 6.x node run the DS metadata server (sites, the REST API).
func hasDS(version string) bool {
	return atLeast(version, 6, 0) || (atLeast(version, 5, 9) && edition(version) == "Enterprise")
}

// dsDBNames are the raft DBs a release opens with durable sessions enabled (§1.2; message queues
// and streams are left out).
func dsDBNames(version string) []string {
	if majorOf(version) >= 6 {
		return []string{"messages", "sessions", "timers", "shared_subs"}
	}
	return []string{"messages"}
}

// newSiteID is 8 random bytes in upper-case hex.
func newSiteID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// dsView is one cluster's DS tables for one major release: the site table and the DBs.
type dsView struct {
	sites map[string]string // site ID → node name
	dbs   map[string]*dsDB
}

// dsDB is one raft DB; shards is empty until the initial allocation.
type dsDB struct {
	name   string
	conf   dsConfig
	shards map[string]*dsShard // by shard ID
}

// dsShard is one shard's replica sets and the transition under way.
type dsShard struct {
	id              string
	current, target []string // sorted, without duplicates
	inflight        *dsTransition
	// clock is when the shard's next transition may start: when the last one ended, or the last
	// time the shard was seen with nothing to do.
	clock time.Time
}

// dsTransition adds a site to a shard's replica set (add) or removes it.
type dsTransition struct {
	site string
	add  bool
	due  time.Time
	// blocked: the addition was due while its site was not up; it completes when the site is.
	blocked bool
}

func (t dsTransition) name() string {
	if t.add {
		return "joining"
	}
	return "leaving"
}

func (c *cluster) dsView(major int) *dsView {
	if c.ds == nil {
		c.ds = map[int]*dsView{}
	}
	v := c.ds[major]
	if v == nil {
		v = &dsView{sites: map[string]string{}, dbs: map[string]*dsDB{}}
		c.ds[major] = v
	}
	return v
}

// siteOfNode is the site the table maps to a node name ("" for none).
func (v *dsView) siteOfNode(name string) string {
	for site, n := range v.sites {
		if n == name {
			return site
		}
	}
	return ""
}

func (v *dsView) sortedSites() []string {
	out := make([]string, 0, len(v.sites))
	for site := range v.sites {
		out = append(out, site)
	}
	sort.Strings(out)
	return out
}

func (v *dsView) dbNames() []string {
	out := make([]string, 0, len(v.dbs))
	for name := range v.dbs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// shardList is the DB's shards, sorted by ID as strings ("0", "1", "10", …, "2").
func (db *dsDB) shardList() []*dsShard {
	out := make([]*dsShard, 0, len(db.shards))
	for _, sh := range db.shards {
		out = append(out, sh)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// targetSites is the sorted union of the shards' target sets.
func (db *dsDB) targetSites() []string {
	var out []string
	for _, sh := range db.shards {
		out = append(out, sh.target...)
	}
	return sortedSet(out)
}

// currentSites is the sorted union of the shards' current sets (db_sites/1).
func (db *dsDB) currentSites() []string {
	var out []string
	for _, sh := range db.shards {
		out = append(out, sh.current...)
	}
	return sortedSet(out)
}

// dsStart gives a booted node its site and lets it claim it: a core finds its site for its major
// release on its data dir or writes a new one; a replicant has no data dir to keep one.
func (w *world) dsStart(n *node, now time.Time) {
	if !hasDS(n.version) {
		return
	}
	major := majorOf(n.version)
	if per := w.persist[n.name]; per != nil && n.role == "core" {
		if per.dsSites == nil {
			per.dsSites = map[int]string{}
		}
		if per.dsSites[major] == "" {
			per.dsSites[major] = newSiteID()
		}
		n.site = per.dsSites[major]
	} else {
		n.site = newSiteID()
	}
	w.dsSync(w.clusterOf(n), now)
}

// siteStatus is the status of the node a site of c's table belongs to.
func (w *world) siteStatus(c *cluster, v *dsView, site string) string {
	name, ok := v.sites[site]
	m := w.nodes[name]
	switch {
	case !ok || m == nil || !c.members[name]:
		return siteLost
	case m.state == running:
		return siteUp
	default:
		return siteDown // a member that is stopped (or booting again)
	}
}

// unclaimed reports whether n runs with a site its cluster's table does not map to it.
func (w *world) unclaimed(n *node) bool {
	if n.site == "" || n.state != running {
		return false
	}
	c := w.clusterOf(n)
	if c == nil || c.ds[majorOf(n.version)] == nil {
		return true
	}
	return c.ds[majorOf(n.version)].sites[n.site] != n.name
}

// dsSync brings c's DS state up to now: running members claim their sites, DS-enabled members
// open their DBs, DBs with enough sites get their initial allocation, and due transitions run.
func (w *world) dsSync(c *cluster, now time.Time) {
	if c == nil {
		return
	}
	members := w.members(c)
	for _, m := range members {
		if m.state != running || m.site == "" {
			continue
		}
		v := c.dsView(majorOf(m.version))
		if _, ok := v.sites[m.site]; ok {
			continue
		}
		if v.siteOfNode(m.name) != "" {
			continue // conflicting_node_site: UNCLAIMED until the other site is forgotten
		}
		v.sites[m.site] = m.name
	}
	for _, m := range members {
		if m.state != running || !m.ds.enabled || !hasDS(m.version) {
			continue
		}
		v := c.dsView(majorOf(m.version))
		for _, name := range dsDBNames(m.version) {
			if v.dbs[name] == nil {
				v.dbs[name] = &dsDB{name: name, conf: m.ds, shards: map[string]*dsShard{}}
			}
		}
	}
	for _, v := range c.ds {
		status := func(site string) string { return w.siteStatus(c, v, site) }
		for _, name := range v.dbNames() {
			db := v.dbs[name]
			if len(db.shards) == 0 {
				w.allocate(db, v, status, now)
			}
			for _, sh := range db.shardList() {
				sh.advance(now, w.dsTransition, status)
			}
		}
	}
}

// allocate is allocate_shards_trans: once the table holds n_sites non-lost sites (replicants'
// included), every shard gets its replica set at once, with no transitions.
func (w *world) allocate(db *dsDB, v *dsView, status func(string) string, now time.Time) {
	var sites []string
	for _, site := range v.sortedSites() {
		if status(site) != siteLost {
			sites = append(sites, site)
		}
	}
	if len(sites) == 0 || len(sites) < db.conf.nSites {
		return
	}
	ids := make([]string, db.conf.nShards)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	for id, set := range computeAllocation(ids, sites, db.conf.replicationFactor) {
		db.shards[id] = &dsShard{id: id, current: set, target: slices.Clone(set), clock: now}
	}
}

// computeAllocation is compute_allocation/3: over the sorted site list, repeated round-robin,
// the shard at position i of the shards sorted as strings gets min(#sites, RF) consecutive sites
// from offset i. Duplicate sites are kept in the list (they count in #sites, as EMQX does not
// remove them); a shard's replica set holds a site once (the reference leaves the effect of
// duplicates UNVERIFIED).
func computeAllocation(shardIDs, sites []string, rf int) map[string][]string {
	ids := slices.Clone(shardIDs)
	sort.Strings(ids)
	sorted := slices.Clone(sites)
	sort.Strings(sorted)
	n := min(len(sorted), rf)
	out := map[string][]string{}
	for i, id := range ids {
		set := make([]string, 0, n)
		for k := range n {
			set = append(set, sorted[(i+k)%len(sorted)])
		}
		out[id] = sortedSet(set)
	}
	return out
}

// plan is the shard's pending transitions after the one under way: deletions from lost sites
// first, then additions interleaved with the other deletions (pending_transitions/2,
// compute_transition_plan/2).
func (sh *dsShard) plan(status func(string) string) []dsTransition {
	adds := minus(sh.target, sh.current)
	var lostDels, dels []string
	for _, site := range minus(sh.current, sh.target) {
		if status(site) == siteLost {
			lostDels = append(lostDels, site)
		} else {
			dels = append(dels, site)
		}
	}
	var out []dsTransition
	for _, site := range lostDels {
		out = append(out, dsTransition{site: site})
	}
	for i := 0; i < len(adds) || i < len(dels); i++ {
		if i < len(adds) {
			out = append(out, dsTransition{site: adds[i], add: true})
		}
		if i < len(dels) {
			out = append(out, dsTransition{site: dels[i]})
		}
	}
	return out
}

// transitions is what GET /ds/storages/{db} lists: the transition under way, then the plan.
func (sh *dsShard) transitions(status func(string) string) []dsTransition {
	var out []dsTransition
	if sh.inflight != nil {
		out = append(out, *sh.inflight)
	}
	for _, t := range sh.plan(status) {
		if sh.inflight != nil && t.site == sh.inflight.site && t.add == sh.inflight.add {
			continue
		}
		out = append(out, t)
	}
	return out
}

// pendingAdd reports whether site is joining the shard (planned or under way).
func (sh *dsShard) pendingAdd(site string) bool {
	if sh.inflight != nil && sh.inflight.add && sh.inflight.site == site {
		return true
	}
	return slices.Contains(sh.target, site) && !slices.Contains(sh.current, site)
}

// advance runs the shard's transitions due by now, one at a time, each taking d from the end of
// the previous one. A deletion always completes (the other replicas keep quorum); an addition
// completes only while its site is up. A blocked addition whose site is no longer a target is
// dropped (a simulator choice: EMQX's claimed transitions finish, but one that cannot finish is
// not described by the reference).
func (sh *dsShard) advance(now time.Time, d time.Duration, status func(string) string) {
	for {
		if sh.inflight == nil {
			p := sh.plan(status)
			if len(p) == 0 {
				if sh.clock.Before(now) {
					sh.clock = now
				}
				return
			}
			t := p[0]
			t.due = sh.clock.Add(d)
			sh.inflight = &t
		}
		t := sh.inflight
		if t.due.After(now) {
			return
		}
		if t.add && status(t.site) != siteUp {
			if !slices.Contains(sh.target, t.site) {
				sh.inflight, sh.clock = nil, now
				continue
			}
			t.blocked = true
			return
		}
		if t.add {
			sh.current = sortedSet(append(slices.Clone(sh.current), t.site))
		} else {
			sh.current = minus(sh.current, []string{t.site})
		}
		sh.inflight, sh.clock = nil, t.due
		if t.blocked {
			sh.clock = now // it completed once its site came up, at the latest now
		}
	}
}

// sortedSet sorts and removes duplicates.
func sortedSet(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// minus is a − b, keeping a's order.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
