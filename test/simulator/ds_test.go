package simulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// These tests pin the simulator's durable-storage replication to
// shared/reference/emqx6-behaviour.md §1 (and the traps of §7 it lists), section by section.

const v6 = "6.1.4"

// dsEnv enables durable sessions with the given settings (6.x keys) and a licence that clusters.
func dsEnv(nSites, nShards, rf int) []corev1.EnvVar {
	return append(licenceEnv(),
		corev1.EnvVar{Name: "EMQX_DURABLE_SESSIONS__ENABLE", Value: "true"},
		corev1.EnvVar{Name: "EMQX_DURABLE_STORAGE__N_SITES", Value: fmt.Sprint(nSites)},
		corev1.EnvVar{Name: "EMQX_DURABLE_STORAGE__MESSAGES__N_SHARDS", Value: fmt.Sprint(nShards)},
		corev1.EnvVar{Name: "EMQX_DURABLE_STORAGE__MESSAGES__REPLICATION_FACTOR", Value: fmt.Sprint(rf)})
}

// licenceEnv: 5.9+ does not cluster on the default (community) licence.
func licenceEnv() []corev1.EnvVar {
	return []corev1.EnvVar{{Name: "EMQX_LICENSE__KEY", Value: EncodeTestLicense("Acme", "official", 1000000, time.Now().AddDate(1, 0, 0))}}
}

func (w *testWorld) siteOf(node string) string {
	for _, n := range w.sim.Nodes() {
		if n.Name == node {
			return n.DSSite
		}
	}
	return ""
}

func (w *testWorld) unclaimed(node string) bool {
	for _, n := range w.sim.Nodes() {
		if n.Name == node {
			return n.DSUnclaimed
		}
	}
	return false
}

func (w *testWorld) sites(ip int) []string {
	var out []string
	w.getInto(ip, "/api/v5/ds/sites", &out)
	return out
}

func (w *testWorld) dsSite(ip int, site string) dsSiteInfo {
	var out dsSiteInfo
	w.getInto(ip, "/api/v5/ds/sites/"+site, &out)
	return out
}

func (w *testWorld) dsDB(ip int, db string) dsDBInfo {
	var out dsDBInfo
	w.getInto(ip, "/api/v5/ds/storages/"+db, &out)
	return out
}

// getInto GETs path from the node at ip and decodes its 200 answer into out.
func (w *testWorld) getInto(ip int, path string, out any) {
	w.t.Helper()
	a := w.get(ip, path)
	if a.status != 200 || json.Unmarshal(a.body, out) != nil {
		w.t.Fatalf("GET %s = %d %s", path, a.status, a.body)
	}
}

func (w *testWorld) replicas(ip int, db string) []string {
	w.t.Helper()
	var out []string
	a := w.get(ip, "/api/v5/ds/storages/"+db+"/replicas")
	if a.status != 200 || json.Unmarshal(a.body, &out) != nil {
		w.t.Fatalf("GET /ds/storages/%s/replicas = %d %s", db, a.status, a.body)
	}
	return out
}

func (w *testWorld) put(ip int, path, body string) answer {
	return w.call(ip, "PUT", path, "application/json", body, true)
}

func (w *testWorld) del(ip int, path string) answer { return w.call(ip, "DELETE", path, "", "", true) }

// settled: no shard of db has transitions (§1.5 "Done?").
func (w *testWorld) settled(ip int, db string) bool {
	for _, sh := range w.dsDB(ip, db).Shards {
		if len(sh.Transitions) > 0 {
			return false
		}
	}
	return true
}

// wantAccepted: 202, raw body OK typed application/json (trap 1).
func wantAccepted(t *testing.T, a answer) {
	t.Helper()
	if a.status != 202 || string(a.body) != "OK" || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("= %d %q (%s), want 202 and the raw body OK as application/json", a.status, a.body, a.header.Get("Content-Type"))
	}
}

// wantBadRequest400: a DS 400 carries the integer code 400 (trap 2).
func wantBadRequest400(t *testing.T, a answer, message string) {
	t.Helper()
	var m map[string]any
	if a.status != 400 || json.Unmarshal(a.body, &m) != nil || m["code"] != float64(400) || m["message"] != message {
		t.Fatalf("= %d %s, want 400 {\"code\":400,\"message\":%q}", a.status, a.body, message)
	}
}

// removeNode stops the pod's node, then force-leaves it (through node 1): its site turns lost.
func (w *testWorld) removeNode(pod, node string) {
	w.t.Helper()
	w.deletePod(pod)
	w.waitFor(func() bool { return w.nodeState(node) == "stopped" }, node+" stopped")
	if got := w.del(1, "/api/v5/cluster/"+node+"/force_leave"); got.status != 204 {
		w.t.Fatalf("force_leave %s = %d %s", node, got.status, got.body)
	}
}

func (w *testWorld) joined(nodes ...string) {
	w.t.Helper()
	w.waitFor(func() bool {
		for _, n := range nodes[1:] {
			if w.clusterOf(n) != w.clusterOf(nodes[0]) {
				return false
			}
		}
		return true
	}, "nodes clustered")
}

func TestDSConfigFromEnvAndConf(t *testing.T) { // §1.2
	conf, err := parseHOCON(`durable_sessions.enable = true
durable_storage { n_sites = 2, messages { replication_factor = 2, n_shards = 4, n_sites = 9 } }`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		version string
		env     map[string]string
		want    dsConfig
	}{
		{"6.1.4", nil, dsConfig{true, 2, 4, 2}},  // 6.x: n_sites at the root
		{"5.10.4", nil, dsConfig{true, 2, 4, 9}}, // 5.9/5.10: durable_storage.messages.n_sites
		{"6.0.1", map[string]string{"EMQX_DURABLE_SESSIONS__ENABLE": "false", "EMQX_DURABLE_STORAGE__MESSAGES__N_SHARDS": `"8"`,
			"EMQX_DURABLE_STORAGE__N_SITES": "3"}, dsConfig{false, 2, 8, 3}}, // the environment wins
	} {
		if got := readDSConfig(c.version, c.env, conf); got != c.want {
			t.Errorf("%s %v: %+v, want %+v", c.version, c.env, got, c.want)
		}
	}
	if got := readDSConfig("6.1.4", nil, nil); got != (dsConfig{false, 3, 16, 1}) {
		t.Errorf("defaults = %+v", got)
	}
}

func TestDSComputeAllocation(t *testing.T) { // §1.5 compute_allocation
	got := computeAllocation([]string{"0", "1", "2", "3"}, []string{"C", "A", "B"}, 2)
	want := map[string][]string{"0": {"A", "B"}, "1": {"B", "C"}, "2": {"A", "C"}, "3": {"A", "B"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RF 2 over 3 sites = %v, want %v", got, want)
	}
	// Fewer sites than RF: the effective RF shrinks (trap 6).
	if got := computeAllocation([]string{"0", "1"}, []string{"B", "A"}, 3); fmt.Sprint(got) != fmt.Sprint(map[string][]string{"0": {"A", "B"}, "1": {"A", "B"}}) {
		t.Errorf("RF 3 over 2 sites = %v", got)
	}
	// Offsets follow the shards sorted as strings: "10" is third.
	ids := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}
	if got := computeAllocation(ids, []string{"A", "B", "C"}, 1); fmt.Sprint(got["10"], got["2"]) != "[C] [B]" {
		t.Errorf("RF 1 over 12 shards: 10 → %v, 2 → %v; want [C] and [B]", got["10"], got["2"])
	}
}

func TestDSTransitionsRunOnePerShardInSimulatedTime(t *testing.T) { // §1.4 transition order, §1.5
	statuses := map[string]string{"A": siteUp, "B": siteUp, "C": siteUp, "D": siteDown, "L": siteLost}
	status := func(s string) string { return statuses[s] }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	list := func(sh *dsShard) string {
		var out []string
		for _, t := range sh.transitions(status) {
			out = append(out, t.site+":"+t.name())
		}
		return strings.Join(out, " ")
	}
	sh := &dsShard{id: "0", current: []string{"A", "B", "L"}, target: []string{"B", "C", "D"}, clock: t0}
	sh.advance(t0, time.Second, status)
	if got := list(sh); got != "L:leaving C:joining A:leaving D:joining" {
		t.Fatalf("transitions = %q: want the lost site's deletion first, then additions interleaved with deletions", got)
	}
	sh.advance(at(1.5), time.Second, status)
	if fmt.Sprint(sh.current) != "[A B]" || list(sh) != "C:joining A:leaving D:joining" {
		t.Errorf("after 1.5 s: current %v, transitions %q", sh.current, list(sh))
	}
	// The plan is recomputed after each transition: an addition comes first again, and one to a
	// site that is not up does not complete, holding up the shard.
	sh.advance(at(3.5), time.Second, status)
	if fmt.Sprint(sh.current) != "[A B C]" || list(sh) != "D:joining A:leaving" {
		t.Errorf("after 3.5 s: current %v, transitions %q", sh.current, list(sh))
	}
	sh.advance(at(60), time.Second, status)
	if fmt.Sprint(sh.current) != "[A B C]" || list(sh) != "D:joining A:leaving" {
		t.Errorf("an addition to a down site completed: current %v, transitions %q", sh.current, list(sh))
	}
	statuses["D"] = siteUp
	sh.advance(at(61), time.Second, status)
	if fmt.Sprint(sh.current) != "[A B C D]" || list(sh) != "A:leaving" {
		t.Errorf("once D is up: current %v, transitions %q", sh.current, list(sh))
	}
	sh.advance(at(61.9), time.Second, status)
	if fmt.Sprint(sh.current) != "[A B C D]" {
		t.Errorf("the next transition took less than its time: current %v", sh.current)
	}
	sh.advance(at(62), time.Second, status)
	if fmt.Sprint(sh.current) != "[B C D]" || list(sh) != "" {
		t.Errorf("after 62 s: current %v, transitions %q", sh.current, list(sh))
	}
	// A deletion completes whatever its site's state (the other replicas keep quorum).
	statuses["B"] = siteDown
	sh.target = []string{"C", "D"}
	sh.advance(at(70), time.Second, status)
	sh.advance(at(71), time.Second, status)
	if fmt.Sprint(sh.current) != "[C D]" {
		t.Errorf("deletion of a down site: current %v", sh.current)
	}
	// A blocked addition whose site is no longer a target is dropped.
	sh.target = []string{"C", "D", "L"}
	sh.advance(at(80), time.Second, status)
	sh.advance(at(81), time.Second, status)
	sh.target = []string{"C", "D"}
	sh.advance(at(82), time.Second, status)
	if fmt.Sprint(sh.current) != "[C D]" || list(sh) != "" {
		t.Errorf("after retargeting away from a lost site: current %v, transitions %q", sh.current, list(sh))
	}
}

func TestDSSiteSurvivesACoreRestart(t *testing.T) { // §1.1 Site
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: v6})
	sites := w.sites(1)
	if len(sites) != 1 || !regexp.MustCompile(`^[0-9A-F]{16}$`).MatchString(sites[0]) || w.siteOf(a) != sites[0] {
		t.Fatalf("sites = %v (node's %q), want one 16-character upper-case hex ID", sites, w.siteOf(a))
	}
	if s := w.dsSite(1, sites[0]); s.Node != a || !s.Up || s.Shards == nil || len(s.Shards) != 0 {
		t.Errorf("site = %+v", s)
	}
	w.deletePod("a-0")
	w.waitFor(func() bool { return w.nodeState(a) == "stopped" }, "a-0 stopped")
	w.pod("a-0", 1, podOpts{version: v6})
	if got := w.sites(1); !slices.Equal(got, sites) {
		t.Errorf("after a restart on its data dir: sites %v, want %v", got, sites)
	}
}

func TestDSSixDoesNotReadAFiveSite(t *testing.T) { // §1.1 Site: 6.x neither migrates nor reads 5.x's
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: "5.10.4"})
	s5 := w.siteOf(a)
	w.deletePod("a-0")
	w.waitFor(func() bool { return w.nodeState(a) == "stopped" }, "a-0 stopped")
	w.pod("a-0", 1, podOpts{version: v6})
	s6 := w.siteOf(a)
	if s6 == "" || s6 == s5 || !slices.Equal(w.sites(1), []string{s6}) {
		t.Errorf("5.10 site %s, 6.x site %s, 6.x view %v: want a new site in a view of its own", s5, s6, w.sites(1))
	}
}

func TestDSDisabledListsSitesButNoStorages(t *testing.T) { // §1.1 DS "disabled", trap 11
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{version: v6})
	w.pod("b-0", 2, podOpts{version: "5.9.1"})
	for _, ip := range []int{1, 2} {
		if len(w.sites(ip)) != 1 {
			t.Errorf("node %d: GET /ds/sites = %v, want its site", ip, w.sites(ip))
		}
		if a := w.get(ip, "/api/v5/ds/storages"); a.status != 200 || string(a.body) != "[]" {
			t.Errorf("node %d: GET /ds/storages = %d %s, want 200 []", ip, a.status, a.body)
		}
		wantError(t, w.get(ip, "/api/v5/ds/storages/messages"), 404, "NOT_FOUND", "DB 'messages' does not exist")
	}
}

func TestDSEndpointsByRelease(t *testing.T) { // §1.1 Editions, §1.3, trap 12
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{version: "5.8.6"})
	w.pod("b-0", 2, podOpts{version: "5.10.4"})
	w.pod("c-0", 3, podOpts{version: v6})
	wantError(t, w.get(1, "/api/v5/ds/sites"), 404, "NOT_FOUND", "Request Path Not Found")
	site := w.sites(2)[0]
	wantError(t, w.put(2, "/api/v5/ds/sites/"+site+"/forget", ""), 404, "NOT_FOUND", "Request Path Not Found")
	wantError(t, w.call(3, "GET", "/api/v5/ds/sites", "", "", false), 401, "AUTHORIZATION_HEADER_ERROR", "")
	wantError(t, w.put(3, "/api/v5/ds/sites/0000000000000000/forget", ""), 404, "NOT_FOUND", "Site not found: 0000000000000000")
}

func TestDSInitialAllocation(t *testing.T) { // §1.2, §1.4, §1.6
	w := newTestWorld(t)
	// a-0 reads its settings from emqx.conf, the others from the environment.
	a := w.pod("a-0", 1, podOpts{version: v6, env: licenceEnv(), conf: `durable_sessions { enable = true }
durable_storage { n_sites = 3
  messages { n_shards = 12, replication_factor = 2 } }`})
	b := w.pod("b-0", 2, podOpts{version: v6, env: dsEnv(3, 12, 2)})
	w.joined(a, b)
	w.sim.w.mu.Lock()
	aConf := w.sim.w.nodes[a].ds
	w.sim.w.mu.Unlock()
	if aConf != (dsConfig{enabled: true, replicationFactor: 2, nShards: 12, nSites: 3}) {
		t.Fatalf("a-0's DS settings from emqx.conf = %+v", aConf)
	}
	if got := w.dsDB(1, "messages"); len(got.Shards) != 0 {
		t.Fatalf("allocated with 2 of n_sites=3 sites: %+v", got)
	}
	r := w.pod("r-0", 3, podOpts{version: v6, role: "replicant", env: dsEnv(3, 12, 2)})
	w.joined(a, b, r)
	var dbs []string
	if err := json.Unmarshal(w.get(3, "/api/v5/ds/storages").body, &dbs); err != nil || !slices.Equal(dbs, []string{"messages", "sessions", "shared_subs", "timers"}) {
		t.Fatalf("GET /ds/storages = %v", dbs)
	}
	sites := w.sites(1)
	if len(sites) != 3 || !slices.Contains(sites, w.siteOf(r)) || !slices.IsSorted(sites) {
		t.Fatalf("sites = %v, want the three nodes' sorted, the replicant's included", sites)
	}
	raw := w.get(1, "/api/v5/ds/storages/sessions")
	if strings.Contains(string(raw.body), "transition") {
		t.Errorf("transitions listed although there are none: %s", raw.body)
	}
	db := w.dsDB(1, "sessions")
	var ids []string
	for i, sh := range db.Shards {
		ids = append(ids, sh.ID)
		want := []string{sites[i%3], sites[(i+1)%3]}
		slices.Sort(want)
		var got []string
		for _, rep := range sh.Replicas {
			got = append(got, rep.Site)
			if rep.Status != "up" {
				t.Errorf("shard %s replica %+v", sh.ID, rep)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("shard %s (position %d) replicas %v, want %v", sh.ID, i, got, want)
		}
	}
	if strings.Join(ids, ",") != "0,1,10,11,2,3,4,5,6,7,8,9" {
		t.Errorf("shard IDs %v, want 0..11 sorted as strings", ids)
	}
	rs := w.dsSite(3, w.siteOf(r))
	if rs.Node != r || !rs.Up || len(rs.Shards) != 4*8 {
		t.Fatalf("replicant's site = %+v, want 8 shards in each of 4 DBs", rs)
	}
	if s := rs.Shards[0]; s.Storage != "messages" || s.Status != "up" || s.Transition != "" {
		t.Errorf("first shard of the replicant's site = %+v", s)
	}
}

func TestDSAssignReplicasRunsTransitions(t *testing.T) { // §1.5 assign, §1.4, traps 1, 5, 8
	w := newTestWorldWith(t, Options{DSTransitionTime: 30 * time.Second}) // 300 ms each
	a := w.pod("a-0", 1, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	b := w.pod("b-0", 2, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	c := w.pod("c-0", 3, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	w.joined(a, b, c)
	sa, sb, sc := w.siteOf(a), w.siteOf(b), w.siteOf(c)
	if got := w.replicas(1, "messages"); !slices.Equal(got, []string{sa}) {
		t.Fatalf("replicas %v, want a-0's alone (n_sites=1 allocated at its start)", got)
	}
	wantAccepted(t, w.put(1, "/api/v5/ds/storages/messages/replicas", fmt.Sprintf("[%q, %q]", sb, sc)))
	db := w.dsDB(1, "messages")
	// Additions interleaved with deletions, in site order: b joining (under way), a leaving, c joining.
	type tr = dsTransitionInfo
	want := []tr{{sb, "joining"}, {sa, "leaving"}, {sc, "joining"}}
	if sb > sc {
		want = []tr{{sc, "joining"}, {sa, "leaving"}, {sb, "joining"}}
	}
	for _, sh := range db.Shards {
		if !slices.Equal(sh.Transitions, want) || len(sh.Replicas) != 1 || sh.Replicas[0].Site != sa {
			t.Errorf("shard %s right after PUT: %+v, want replicas [%s] and transitions %v", sh.ID, sh, sa, want)
		}
	}
	if got := w.replicas(1, "messages"); !slices.Equal(got, []string{sa}) {
		t.Errorf("GET replicas = %v: want the current sets, not the target", got)
	}
	if s := w.dsSite(1, sa); len(s.Shards) != 2*4 || s.Shards[0].Transition != "leaving" || s.Shards[2].Transition != "" {
		t.Errorf("leaving site = %+v", s)
	}
	if s := w.dsSite(1, sc); len(s.Shards) != 2 || s.Shards[1].Transition != "joining" || s.Shards[1].Storage != "messages" {
		t.Errorf("joining site = %+v", s)
	}
	// No "in progress" error: a later PUT replaces the target (never 409).
	wantAccepted(t, w.put(1, "/api/v5/ds/storages/messages/replicas", fmt.Sprintf("[%q, %q, %q]", sa, sb, sc)))
	w.waitFor(func() bool { return w.settled(1, "messages") }, "transitions finished")
	if got := w.replicas(2, "messages"); !slices.Equal(got, sortedSet([]string{sa, sb, sc})) {
		t.Errorf("replicas after the transitions = %v", got)
	}
	if got := w.replicas(1, "sessions"); !slices.Equal(got, []string{sa}) {
		t.Errorf("another DB changed: %v", got)
	}
}

func TestDSWriteErrorsInReferenceOrder(t *testing.T) { // §1.5 assign checks, traps 2, 3
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	b := w.pod("b-0", 2, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	w.joined(a, b)
	sa, sb := w.siteOf(a), w.siteOf(b)
	w.removeNode("b-0", b)
	put := func(body string) answer { return w.put(1, "/api/v5/ds/storages/messages/replicas", body) }
	wantBadRequest400(t, put(`[]`), "Replica sets would become too small")
	wantBadRequest400(t, put(fmt.Sprintf(`[%q, "NOPE1", "NOPE2"]`, sb)), "Unknown sites: NOPE1, NOPE2")
	wantBadRequest400(t, put(fmt.Sprintf(`[%q, %q]`, sa, sb)), "Replication still targets lost sites: "+sb)
	wantBadRequest400(t, w.put(1, "/api/v5/ds/storages/messages/replicas/NOPE", ""), "Unknown sites: NOPE")
	wantError(t, put(`{"sites": 1}`), 400, "BAD_REQUEST", "")
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v5/ds/storages/nope"}, {"GET", "/api/v5/ds/storages/nope/replicas"},
		{"PUT", "/api/v5/ds/storages/nope/replicas"}, {"PUT", "/api/v5/ds/storages/nope/replicas/" + sa},
		{"DELETE", "/api/v5/ds/storages/nope/replicas/" + sa},
	} {
		wantError(t, w.call(1, c.method, c.path, "application/json", `["`+sa+`"]`, true), 404, "NOT_FOUND", "DB 'nope' does not exist")
	}
	wantError(t, w.get(1, "/api/v5/ds/sites/NOPE"), 404, "NOT_FOUND", "Site not found: NOPE")
	wantAccepted(t, put(fmt.Sprintf(`[%q]`, sa)))
}

func TestDSJoinAndLeave(t *testing.T) { // §1.5 join/leave, trap 4
	w := newTestWorldWith(t, Options{DSTransitionTime: 20 * time.Second}) // 200 ms each
	a := w.pod("a-0", 1, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	b := w.pod("b-0", 2, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	w.joined(a, b)
	sa, sb := w.siteOf(a), w.siteOf(b)
	path := func(site string) string { return "/api/v5/ds/storages/timers/replicas/" + site }
	wantAccepted(t, w.put(1, path(sa), ""))                                                   // unchanged join
	wantError(t, w.del(1, path(sb)), 404, "NOT_FOUND", "Site is not part of replica set")     // not a target
	wantError(t, w.del(1, path("NOPE")), 404, "NOT_FOUND", "Site is not part of replica set") // unknown
	wantBadRequest400(t, w.del(1, path(sa)), "Replica sets would become too small")
	wantAccepted(t, w.put(1, path(sb), ""))
	if db := w.dsDB(1, "timers"); len(db.Shards) != 2 || !slices.Equal(db.Shards[0].Transitions, []dsTransitionInfo{{sb, "joining"}}) {
		t.Errorf("after join: %+v", db)
	}
	w.waitFor(func() bool { return w.settled(1, "timers") }, "join finished")
	wantAccepted(t, w.del(1, path(sa)))
	w.waitFor(func() bool { return w.settled(1, "timers") }, "leave finished")
	if got := w.replicas(1, "timers"); !slices.Equal(got, []string{sb}) {
		t.Errorf("replicas = %v, want [%s]", got, sb)
	}
}

func TestDSLostSiteBlocksAssignUntilRemoved(t *testing.T) { // §1.5, trap 7
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	b := w.pod("b-0", 2, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	c := w.pod("c-0", 3, podOpts{version: v6, env: dsEnv(1, 2, 3)})
	w.joined(a, b, c)
	sb, sc := w.siteOf(b), w.siteOf(c)
	path := func(site string) string { return "/api/v5/ds/storages/messages/replicas/" + site }
	wantAccepted(t, w.put(1, path(sb), ""))
	w.waitFor(func() bool { return w.settled(1, "messages") }, "join finished")
	w.removeNode("b-0", b)
	if rep := w.dsDB(1, "messages").Shards[0].Replicas; len(rep) != 2 || rep[slices.IndexFunc(rep, func(r dsReplicaInfo) bool { return r.Site == sb })].Status != "lost" {
		t.Errorf("replicas after force_leave = %+v, want %s lost", rep, sb)
	}
	wantBadRequest400(t, w.put(1, path(sc), ""), "Replication still targets lost sites: "+sb)
	wantAccepted(t, w.del(1, path(sb)))
	wantAccepted(t, w.put(1, path(sc), ""))
}

func TestDSForgetRules(t *testing.T) { // §1.5 forget, trap 9
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: v6, env: dsEnv(2, 2, 2)})
	b := w.pod("b-0", 2, podOpts{version: v6, env: dsEnv(2, 2, 2)})
	w.joined(a, b)
	c := w.pod("c-0", 3, podOpts{version: v6, env: dsEnv(2, 2, 2)})
	w.joined(a, c)
	sa, sb, sc := w.siteOf(a), w.siteOf(b), w.siteOf(c)
	forget := func(site string) answer { return w.put(1, "/api/v5/ds/sites/"+site+"/forget", "") }
	all := "messages, sessions, shared_subs, timers"

	wantBadRequest400(t, forget(sa), "Site is up and running")
	w.deletePod("b-0")
	w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "b-0 stopped")
	if s := w.dsSite(1, sb); s.Up || len(s.Shards) != 2*4 || s.Shards[0].Status != "down" {
		t.Errorf("stopped core's site = %+v, want down", s)
	}
	wantBadRequest400(t, forget(sb), "Site is considered temporarily down")
	if got := w.del(1, "/api/v5/cluster/"+b+"/force_leave"); got.status != 204 {
		t.Fatalf("force_leave = %d", got.status)
	}
	if s := w.dsSite(1, sb); s.Shards[0].Status != "lost" {
		t.Errorf("force-left core's site = %+v, want lost", s)
	}
	wantBadRequest400(t, forget(sb), "Site is still a member of replica sets of: "+all)
	for _, db := range []string{"messages", "sessions", "shared_subs", "timers"} {
		wantAccepted(t, w.put(1, "/api/v5/ds/storages/"+db+"/replicas", fmt.Sprintf("[%q]", sa)))
	}
	w.waitFor(func() bool { return len(w.dsSite(1, sb).Shards) == 0 }, "the lost site's replicas removed")

	// A site still joining a replica set (an addition blocked while its node is down).
	w.deletePod("c-0")
	w.waitFor(func() bool { return w.nodeState(c) == "stopped" }, "c-0 stopped")
	wantAccepted(t, w.put(1, "/api/v5/ds/storages/messages/replicas/"+sc, ""))
	if got := w.del(1, "/api/v5/cluster/"+c+"/force_leave"); got.status != 204 {
		t.Fatalf("force_leave = %d", got.status)
	}
	time.Sleep(50 * time.Millisecond) // over two transition times
	if s := w.dsSite(1, sc); len(s.Shards) != 2 || s.Shards[0].Transition != "joining" {
		t.Errorf("site joining while lost = %+v", s)
	}
	wantBadRequest400(t, forget(sc), "Site is still a target of replica set transitions in: messages")
	wantAccepted(t, w.del(1, "/api/v5/ds/storages/messages/replicas/"+sc))

	for _, site := range []string{sb, sc} {
		if got := forget(site); got.status != 204 || len(got.body) != 0 {
			t.Errorf("forget %s = %d %q, want 204 and no body", site, got.status, got.body)
		}
		wantError(t, w.get(1, "/api/v5/ds/sites/"+site), 404, "NOT_FOUND", "Site not found: "+site)
	}
	if got := w.sites(1); !slices.Equal(got, []string{sa}) {
		t.Errorf("sites after forget = %v", got)
	}
}

func TestDSReplicantRestartMintsANewSite(t *testing.T) { // §1.1 Site status, §1.6, trap 10
	w := newTestWorld(t)
	c := w.pod("c-0", 1, podOpts{version: v6, env: licenceEnv()})
	r := w.pod("r-0", 2, podOpts{version: v6, role: "replicant", env: licenceEnv()})
	w.joined(c, r)
	r1 := w.siteOf(r)
	if got := w.sites(1); len(got) != 2 || !slices.Contains(got, r1) {
		t.Fatalf("sites = %v, want the replicant's %s listed", got, r1)
	}
	w.deletePod("r-0")
	w.waitFor(func() bool { return w.nodeState(r) == "" }, "replicant gone")
	if s := w.dsSite(1, r1); s.Up || s.Node != r {
		t.Errorf("stopped replicant's site = %+v", s)
	}
	// Lost, not down: a stopped replicant is no member, so its site (holding no shards) can go.
	if got := w.put(1, "/api/v5/ds/sites/"+r1+"/forget", ""); got.status != 204 {
		t.Errorf("forget the stopped replicant's site = %d %s, want 204", got.status, got.body)
	}
	w.pod("r-0", 2, podOpts{version: v6, role: "replicant", env: licenceEnv()})
	w.joined(c, r)
	if r2 := w.siteOf(r); r2 == "" || r2 == r1 || !slices.Contains(w.sites(1), r2) {
		t.Errorf("restarted replicant's site %q (was %s), sites %v: want a new site, claimed", r2, r1, w.sites(1))
	}
}

func TestDSUnclaimedNodeClaimsAfterForget(t *testing.T) { // §1.1 Site → node claim rule, trap 9
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: v6, env: licenceEnv()})
	b := w.pod("b-0", 2, podOpts{version: v6, env: licenceEnv()})
	w.joined(a, b)
	sa, sb := w.siteOf(a), w.siteOf(b)
	stopAndForceLeave := func() { w.removeNode("b-0", b) }
	// force_leave of a stopped core drops its data dir here (as the simulator models it): the
	// node returns with a new site while the table still maps the old one to its name.
	stopAndForceLeave()
	w.pod("b-0", 2, podOpts{version: v6, env: licenceEnv()})
	w.joined(a, b)
	sb2 := w.siteOf(b)
	if sb2 == sb || !w.unclaimed(b) || !slices.Equal(w.sites(1), sortedSet([]string{sa, sb})) {
		t.Fatalf("new site %s (old %s), unclaimed %v, sites %v: want the new site UNCLAIMED", sb2, sb, w.unclaimed(b), w.sites(1))
	}
	// The old site's status is its node name's: up again, so it cannot be forgotten now.
	wantBadRequest400(t, w.put(1, "/api/v5/ds/sites/"+sb+"/forget", ""), "Site is up and running")
	stopAndForceLeave()
	if got := w.put(1, "/api/v5/ds/sites/"+sb+"/forget", ""); got.status != 204 {
		t.Fatalf("forget = %d %s", got.status, got.body)
	}
	w.pod("b-0", 2, podOpts{version: v6, env: licenceEnv()})
	w.joined(a, b)
	if sb3 := w.siteOf(b); w.unclaimed(b) || !slices.Equal(w.sites(1), sortedSet([]string{sa, sb3})) {
		t.Errorf("after forget: unclaimed %v, sites %v, want %s claimed", w.unclaimed(b), w.sites(1), sb3)
	}
}

// TestDSANewVolumeIsAnEmptyDataDir: a core's site, like its cluster membership, lives on the PVC
// holding data/ (§1.1 "Missing file → new ID"). Restarted on the same PVC it keeps both; on a new
// PVC it starts empty, rejoins by discovery with a new site and runs UNCLAIMED while its old site
// is known (trap 9); force-left while running, its old site is lost and can be forgotten, and
// rejoining it claims the new one.
func TestDSANewVolumeIsAnEmptyDataDir(t *testing.T) {
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: v6, env: licenceEnv()})
	w.claim("data-b-0")
	b := w.pod("b-0", 2, podOpts{version: v6, env: licenceEnv(), pvc: "data-b-0"})
	w.joined(a, b)
	sb := w.siteOf(b)
	restart := func() {
		w.deletePod("b-0")
		w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "b-0 stopped")
		w.pod("b-0", 2, podOpts{version: v6, env: licenceEnv(), pvc: "data-b-0"})
	}
	restart()
	if w.clusterOf(a) != w.clusterOf(b) || w.siteOf(b) != sb {
		t.Fatalf("restarted on its PVC: cluster %d (a's %d), site %s (was %s)", w.clusterOf(b), w.clusterOf(a), w.siteOf(b), sb)
	}
	w.claim("data-b-0") // a new PVC of the same name
	restart()
	w.joined(a, b)
	sb2 := w.siteOf(b)
	if sb2 == sb || !w.unclaimed(b) {
		t.Fatalf("on a new PVC: site %s (old %s), unclaimed %v: want a new site, UNCLAIMED", sb2, sb, w.unclaimed(b))
	}
	if got := w.del(1, "/api/v5/cluster/"+b+"/force_leave"); got.status != 204 {
		t.Fatalf("force_leave of the running node = %d %s", got.status, got.body)
	}
	if got := w.put(1, "/api/v5/ds/sites/"+sb+"/forget", ""); got.status != 204 {
		t.Fatalf("forget of the old site = %d %s", got.status, got.body)
	}
	w.joined(a, b) // alone, it rejoins by discovery
	w.waitFor(func() bool { return !w.unclaimed(b) }, "the new site claimed")
	if got := w.sites(1); !slices.Contains(got, sb2) || slices.Contains(got, sb) {
		t.Errorf("sites %v: want %s, not %s", got, sb2, sb)
	}
}
