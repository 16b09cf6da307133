package simulator

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// These tests pin the simulator's answers (paths, fields, codes) to
// shared/reference/emqx-rest-api.md and emqx-behaviour.md, section by section.

func TestStatus(t *testing.T) { // §1
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	a := w.call(1, "GET", "/status", "", "", false)
	if a.status != 200 || a.header.Get("retry-after") != "15" ||
		string(a.body) != "Node emqx@a-0.emqx-headless.ns.svc.cluster.local is started\nemqx is running" {
		t.Errorf("/status = %d %q retry-after=%q", a.status, a.body, a.header.Get("retry-after"))
	}
	j := w.call(1, "GET", "/api/v5/status?format=json", "", "", false).json(t)
	if j["app_status"] != "running" || j["node_name"] == nil || j["broker_status"] != "started" {
		t.Errorf("/api/v5/status?format=json = %v", j)
	}
}

func TestAuthentication(t *testing.T) { // §0.1
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	a := w.call(1, "GET", "/api/v5/nodes", "", "", false)
	wantError(t, a, 401, "AUTHORIZATION_HEADER_ERROR", "Support authorization: basic/bearer")
	req := w.call(1, "GET", "/api/v5/nodes", "", "", true)
	if req.status != 200 {
		t.Fatalf("good key: %d %s", req.status, req.body)
	}
	bad := w.callWithKey(1, "GET", "/api/v5/nodes", "operator", "wrong")
	wantError(t, bad, 401, "BAD_API_KEY_OR_SECRET", "Check api_key/api_secret")
	if bad.header.Get("WWW-Authenticate") != `Basic Realm="emqx-dashboard"` {
		t.Errorf("WWW-Authenticate = %q", bad.header.Get("WWW-Authenticate"))
	}
	// An unauthenticated request to a valid path is 401 even with a bad body (auth before body).
	wantError(t, w.call(1, "POST", "/api/v5/license", "application/json", "{not json", false), 401, "AUTHORIZATION_HEADER_ERROR", "")
}

func TestUnknownPath(t *testing.T) { // §0.3
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	wantError(t, w.get(1, "/api/v5/no_such_thing"), 404, "NOT_FOUND", "Request Path Not Found")
}

func TestNodesAndClustering(t *testing.T) { // §2, §3, §10 DNS discovery
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{})
	b := w.pod("core-1", 2, podOpts{})
	r := w.pod("repl-0", 3, podOpts{role: "replicant"})
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) && w.clusterOf(b) == w.clusterOf(r) }, "autocluster")

	nodes := w.get(1, "/api/v5/nodes").list(t)
	if len(nodes) != 3 {
		t.Fatalf("%d nodes: %v", len(nodes), nodes)
	}
	for _, field := range []string{"node", "node_status", "role", "version", "edition", "otp_release", "uptime", "connections",
		"live_connections", "max_fds", "memory_total", "memory_used", "load1", "load5", "load15", "process_available", "process_used"} {
		if _, ok := nodes[0][field]; !ok {
			t.Errorf("GET /nodes lacks %s", field)
		}
	}
	if nodes[0]["version"] != "5.8.6" || nodes[0]["edition"] != "Enterprise" {
		t.Errorf("node = %v", nodes[0])
	}
	cl := w.get(3, "/api/v5/cluster").json(t)
	if cl["name"] != "emqxcl" || cl["self"] != r || len(cl["nodes"].([]any)) != 3 {
		t.Errorf("GET /cluster from the replicant = %v", cl)
	}
	wantError(t, w.get(1, "/api/v5/nodes/emqx@nowhere"), 404, "NOT_FOUND", "Node not found: emqx@nowhere")

	// A stopped core stays listed with three keys; a stopped replicant disappears.
	w.deletePod("core-1")
	w.deletePod("repl-0")
	w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "core-1 stopped")
	nodes = w.get(1, "/api/v5/nodes").list(t)
	if len(nodes) != 2 {
		t.Fatalf("after stops: %v", nodes)
	}
	for _, n := range nodes {
		if n["node"] == b && (n["node_status"] != "stopped" || n["role"] != "core" || len(n) != 3) {
			t.Errorf("stopped core = %v, want exactly node, node_status=stopped, role=core", n)
		}
		if n["node"] == r {
			t.Errorf("stopped replicant listed: %v", n)
		}
	}
	wantError(t, w.get(1, "/api/v5/nodes/"+b), 404, "NOT_FOUND", "Node not found")
}

func TestForceLeave(t *testing.T) { // §3 force_leave
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{})
	b := w.pod("core-1", 2, podOpts{})
	r := w.pod("repl-0", 3, podOpts{role: "replicant"})
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) && w.clusterOf(r) == w.clusterOf(a) }, "autocluster")
	del := func(node string) answer {
		return w.call(1, "DELETE", "/api/v5/cluster/"+node+"/force_leave", "", "", true)
	}

	wantError(t, del(a), 400, "BAD_REQUEST", "Can't leave self")
	wantError(t, del("emqx@unknown"), 400, "BAD_REQUEST", "node_not_in_cluster")
	w.deletePod("repl-0")
	w.waitFor(func() bool { return w.nodeState(r) == "" }, "replicant gone")
	wantError(t, del(r), 400, "BAD_REQUEST", "node_not_in_cluster")
	w.deletePod("core-1")
	w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "core-1 stopped")
	if got := del(b); got.status != 204 || len(got.body) != 0 {
		t.Errorf("force_leave of a stopped core = %d %s, want 204 and no body", got.status, got.body)
	}
	if n := w.get(1, "/api/v5/nodes").list(t); len(n) != 1 {
		t.Errorf("after force_leave: %v", n)
	}
}

func TestInvite(t *testing.T) { // §3 invite
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{})
	w.secret("other-cookie", map[string]string{"cookie": "different"})
	stranger := w.pod("core-9", 9, podOpts{cookieSecret: "other-cookie"})
	inv := func(node, body string) answer {
		return w.call(1, "PUT", "/api/v5/cluster/"+node+"/invite", "application/json", body, true)
	}
	wantError(t, inv(a, ""), 400, "BAD_REQUEST", "Cannot invite self")
	wantError(t, inv("emqx@b", `{"timeout": 1000}`), 400, "BAD_REQUEST", "timeout cannot be less than 5000ms")
	wantError(t, inv("emqx@b", `{"timeout": "15000"}`), 400, "BAD_REQUEST", "timeout must be an integer")
	wantError(t, inv(stranger, `{"timeout": 15000}`), 400, "BAD_REQUEST", "nodedown")

	// A node that never joins on its own (fault set before it starts) is brought in by an invite.
	if err := w.sim.SetFaults("emqx@core-1.emqx-headless.ns.svc.cluster.local", Faults{NeverJoins: true}); err != nil {
		t.Fatal(err)
	}
	b := w.pod("core-1", 2, podOpts{})
	time.Sleep(200 * time.Millisecond)
	if w.clusterOf(a) == w.clusterOf(b) {
		t.Fatal("a never-joining node joined on its own")
	}
	if got := inv(b, `{"timeout": 15000}`); got.status != 200 || len(got.body) != 0 {
		t.Fatalf("invite = %d %s", got.status, got.body)
	}
	if w.clusterOf(a) != w.clusterOf(b) {
		t.Error("invited node did not join")
	}
	wantError(t, inv(b, ""), 400, "BAD_REQUEST", "already_in_cluster")
}

func TestReplicantJoinsOnlyCoresOfItsRelease(t *testing.T) { // §10 emqx/emqx#12786
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{version: "5.8.6"})
	r := w.pod("repl-0", 2, podOpts{role: "replicant", version: "5.8.7"})
	time.Sleep(300 * time.Millisecond)
	if w.clusterOf(a) == w.clusterOf(r) {
		t.Fatal("a 5.8.7 replicant joined a 5.8.6-only cluster")
	}
	wantError(t, w.call(1, "PUT", "/api/v5/cluster/"+r+"/invite", "application/json", "", true), 400, "BAD_REQUEST", "no_available_core_node_at_same_version")
	b := w.pod("core-1", 3, podOpts{version: "5.8.7"})
	w.waitFor(func() bool { return w.clusterOf(b) == w.clusterOf(a) && w.clusterOf(r) == w.clusterOf(a) }, "replicant joins once a 5.8.7 core is in")
}

func TestLicense(t *testing.T) { // §4
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	lic := w.get(1, "/api/v5/license").json(t)
	for _, f := range []string{"customer", "customer_type", "deployment", "email", "expiry", "expiry_at", "max_sessions", "start_at", "type"} {
		if _, ok := lic[f]; !ok {
			t.Errorf("GET /license lacks %s", f)
		}
	}
	wantError(t, w.post(1, "/api/v5/license", `{"key": "not-a-licence"}`), 400, "BAD_REQUEST", "Bad license key")
	wantError(t, w.post(1, "/api/v5/license", `{}`), 400, "BAD_REQUEST", "Invalid request params")
	a := w.call(1, "POST", "/api/v5/license", "text/plain", `{"key":"x"}`, true)
	wantError(t, a, 415, "UNSUPPORTED_MEDIA_TYPE", "content-type:application/json Required")

	key := EncodeTestLicense("Acme", "official", 1000000, time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC))
	got := w.post(1, "/api/v5/license", fmt.Sprintf(`{"key": %q}`, key))
	if got.status != 200 {
		t.Fatalf("good licence: %d %s", got.status, got.body)
	}
	m := got.json(t)
	if m["customer"] != "Acme" || m["max_sessions"] != float64(1000000) || m["expiry_at"] != "2030-01-02" || m["type"] != "official" {
		t.Errorf("licence = %v", m)
	}
	if w.get(1, "/api/v5/license").json(t)["customer"] != "Acme" {
		t.Error("licence not kept")
	}
	if _, err := base64.StdEncoding.DecodeString(key); err != nil {
		t.Error("test licence is not base64")
	}
}

func TestEvacuation(t *testing.T) { // §8
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{})
	b := w.pod("core-1", 2, podOpts{})
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) }, "autocluster")
	if err := w.setConnections(a, 1000); err != nil {
		t.Fatal(err)
	}
	if a := w.call(1, "GET", "/api/v5/load_rebalance/availability_check", "", "", false); a.status != 200 || string(a.body) != "{}" {
		t.Errorf("availability before = %d %s", a.status, a.body)
	}
	start := fmt.Sprintf("/api/v5/load_rebalance/%s/evacuation/start", a)
	wantError(t, w.post(1, start, `{"unknown_field": 1}`), 400, "BAD_REQUEST", "")
	if got := w.post(1, start, fmt.Sprintf(`{"conn_evict_rate": 500, "wait_health_check": 1, "wait_takeover": 1, "migrate_to": [%q]}`, b)); got.status != 200 || string(got.body) != "{}" {
		t.Fatalf("evacuation start = %d %s", got.status, got.body)
	}
	wantError(t, w.post(1, start, `{}`), 400, "BAD_REQUEST", "already_started")
	wantError(t, w.call(1, "GET", "/api/v5/load_rebalance/availability_check", "", "", false), 503, "NODE_EVACUATING", "Node Evacuating")
	wantError(t, w.post(1, start+"x", `{}`), 404, "NOT_FOUND", "")
	wantError(t, w.post(1, fmt.Sprintf("/api/v5/load_rebalance/%s/evacuation/start", "emqx@nowhere"), `{}`), 404, "NOT_FOUND", "Node not found: emqx@nowhere")
	w.waitFor(func() bool {
		st := w.get(1, "/api/v5/load_rebalance/status").json(t)
		return st["state"] == "prohibiting"
	}, "evacuation drained to prohibiting")
	st := w.get(1, "/api/v5/load_rebalance/status").json(t)
	stats := st["stats"].(map[string]any)
	if st["status"] != "enabled" || st["process"] != "evacuation" || stats["initial_connected"] != float64(1000) || stats["current_connected"] != float64(0) {
		t.Errorf("status = %v", st)
	}
	var moved int64
	for _, n := range w.sim.Nodes() {
		if n.Name == b {
			moved = n.Connections
		}
	}
	if moved != 1000 {
		t.Errorf("%d connections moved to %s, want 1000", moved, b)
	}
	gs := w.get(2, "/api/v5/load_rebalance/global_status").json(t)
	if len(gs["evacuations"].([]any)) != 1 {
		t.Errorf("global_status = %v", gs)
	}
	stop := fmt.Sprintf("/api/v5/load_rebalance/%s/evacuation/stop", a)
	if got := w.post(1, stop, ""); got.status != 200 {
		t.Errorf("stop = %d %s", got.status, got.body)
	}
	wantError(t, w.post(1, stop, ""), 400, "BAD_REQUEST", "not_started")
}

func TestEvacuationPersistsAcrossARestart(t *testing.T) { // §8 persistence trap
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{})
	b := w.pod("core-1", 2, podOpts{})
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) }, "autocluster")
	if got := w.post(2, fmt.Sprintf("/api/v5/load_rebalance/%s/evacuation/start", b), "{}"); got.status != 200 {
		t.Fatal(string(got.body))
	}
	w.deletePod("core-1")
	w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "stopped")
	w.pod("core-1", 2, podOpts{})
	wantError(t, w.call(2, "GET", "/api/v5/load_rebalance/availability_check", "", "", false), 503, "NODE_EVACUATING", "")
}

// TestACoreRestartsIntoTheClusterItJoined: a core's data volume holds the cluster it last joined
// (mria's schema), not the one it booted into first: restarted, it is back in the cluster it was
// invited into, without discovery (this node never joins by itself).
func TestACoreRestartsIntoTheClusterItJoined(t *testing.T) {
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{})
	b := "emqx@core-1.emqx-headless.ns.svc.cluster.local"
	if err := w.sim.SetFaults(b, Faults{NeverJoins: true}); err != nil {
		t.Fatal(err)
	}
	w.pod("core-1", 2, podOpts{})
	if got := w.call(1, "PUT", "/api/v5/cluster/"+b+"/invite", "application/json", `{"timeout": 15000}`, true); got.status != 200 {
		t.Fatalf("invite = %d %s", got.status, got.body)
	}
	w.deletePod("core-1")
	w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "stopped")
	w.pod("core-1", 2, podOpts{})
	w.waitFor(func() bool { return w.nodeState(b) == "running" }, "running again")
	if w.clusterOf(a) != w.clusterOf(b) {
		t.Error("the restarted core is not back in the cluster it had joined")
	}
}

func TestConfigs(t *testing.T) { // §5
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	put := func(body, query string) answer {
		return w.call(1, "PUT", "/api/v5/configs"+query, "text/plain", body, true)
	}
	if got := put("log.console.level = debug", "?mode=merge"); got.status != 200 || len(got.body) != 0 {
		t.Errorf("merge = %d %s", got.status, got.body)
	}
	got := put("node.cookie = x", "")
	if got.status != 400 || !strings.Contains(string(got.body), `"errors":"Cannot update read-only key 'node'."`) {
		t.Errorf("read-only = %d %s", got.status, got.body)
	}
	if m := put("a = {", "").json(t); m["errors"] == nil || m["code"] != nil {
		t.Errorf("parse error = %v, want {errors: ...} without code", m)
	}
	bad := put("log.console.level = erro1r", "").json(t)
	if e, ok := bad["errors"].(map[string]any)["log"].(map[string]any); !ok || e["kind"] != "validation_error" || e["value"] != "erro1r" {
		t.Errorf("schema violation = %v", bad)
	}
	if got := put("node.cookie = x\nlog.console.level = info", "?ignore_readonly=true"); got.status != 200 {
		t.Errorf("ignore_readonly = %d %s", got.status, got.body)
	}
	if got := w.call(1, "GET", "/api/v5/configs", "", "", true); !strings.Contains(string(got.body), "log.console.level = debug") {
		t.Errorf("GET /configs = %s", got.body)
	}
}

// TestConfigsSetTheLicence: license.key through PUT /configs changes the running licence, as
// POST /license does (emqx6-behaviour §2: licence keys set in emqx.conf / config.data; the update
// runs emqx_license's post_config_update); a key EMQX cannot parse is refused, the licence kept.
func TestConfigsSetTheLicence(t *testing.T) { // §4, §5
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	put := func(body string) answer { return w.call(1, "PUT", "/api/v5/configs", "text/plain", body, true) }
	key := EncodeTestLicense("Beta", "official", 2000000, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
	if got := put(fmt.Sprintf("license.key = %q", key)); got.status != 200 {
		t.Fatalf("PUT license.key = %d %s", got.status, got.body)
	}
	if lic := w.get(1, "/api/v5/license").json(t); lic["customer"] != "Beta" || lic["expiry_at"] != "2099-01-01" {
		t.Errorf("licence after PUT /configs = %v", lic)
	}
	bad := put(`license { key = "not-a-licence" }`)
	if e, ok := bad.json(t)["errors"].(map[string]any)["license"].(map[string]any); bad.status != 400 || !ok || e["kind"] != "validation_error" {
		t.Errorf("bad key through PUT /configs = %d %s", bad.status, bad.body)
	}
	if lic := w.get(1, "/api/v5/license").json(t); lic["customer"] != "Beta" {
		t.Errorf("a refused key changed the licence: %v", lic)
	}
}

func TestImportMergesAPIKeysByName(t *testing.T) { // §7, §9: the lock-out trap
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{})
	exp := w.post(1, "/api/v5/data/export", "{}").json(t)
	name := exp["filename"].(string)
	if !strings.HasPrefix(name, "emqx-export-") || !strings.HasSuffix(name, ".tar.gz") || exp["node"] == nil {
		t.Fatalf("export = %v", exp)
	}
	files := w.get(1, "/api/v5/data/files").json(t)
	if len(files["data"].([]any)) != 1 || files["meta"] == nil {
		t.Errorf("files = %v", files)
	}
	dl := w.get(1, "/api/v5/data/files/"+name)
	if dl.status != 200 || dl.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("download = %d %s", dl.status, dl.header.Get("Content-Type"))
	}
	// An archive from another cluster whose operator key has the same name but another secret:
	// importing it overwrites ours, and the old secret stops working.
	foreign := strings.Replace(string(dl.body), `"Secret":"`+testSecret+`"`, `"Secret":"someone-elses"`, 1)
	if foreign == string(dl.body) {
		t.Fatalf("export (5.8.6) does not carry the api_keys table: %s", dl.body)
	}
	w.sim.w.mu.Lock()
	w.sim.w.nodes["emqx@a-0.emqx-headless.ns.svc.cluster.local"].files["emqx-export-foreign.tar.gz"] = []byte(foreign)
	w.sim.w.mu.Unlock()
	if got := w.post(1, "/api/v5/data/import", `{"filename": "emqx-export-foreign.tar.gz"}`); got.status != 204 {
		t.Fatalf("import = %d %s", got.status, got.body)
	}
	wantError(t, w.get(1, "/api/v5/nodes"), 401, "BAD_API_KEY_OR_SECRET", "")
}

func TestFaults(t *testing.T) {
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{})
	if err := w.sim.SetFaults(a, Faults{ServerError: true}); err != nil {
		t.Fatal(err)
	}
	wantError(t, w.get(1, "/api/v5/nodes"), 500, "INTERNAL_ERROR", "")
	if err := w.sim.SetFaults(a, Faults{Unhealthy: true}); err != nil {
		t.Fatal(err)
	}
	if got := w.call(1, "GET", "/status", "", "", false); got.status != 503 {
		t.Errorf("unhealthy /status = %d", got.status)
	}
}
