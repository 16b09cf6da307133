package simulator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/simulator/pluginpkg"
)

// These tests pin the simulator's plugins to shared/reference/emqx6-behaviour.md §5 and trap 16.

var fooSpec = pluginpkg.Spec{Name: "foo", Vsn: "1.0"}

func TestPluginInstallNeedsAnAllowGrantFrom59(t *testing.T) { // §5 install gating
	for _, c := range []struct {
		version    string
		needsGrant bool
	}{{"5.8.6", false}, {"5.9.3", true}, {"5.10.4", true}, {"6.0.1", true}, {"6.1.4", true}, {"6.3.0", true}} {
		t.Run(c.version, func(t *testing.T) {
			w := newTestWorld(t)
			w.pod("a-0", 1, podOpts{version: c.version})
			got := w.upload(1, "plugin", fooSpec.FileName(), buildPlugin(t, fooSpec))
			if !c.needsGrant {
				wantStatus(t, "install without a grant", got, 204)
				return
			}
			wantError(t, got, 403, "FORBIDDEN", "Package is not allowed installation")
			if !strings.Contains(string(got.body), "emqx ctl plugins allow foo-1.0") {
				t.Errorf("the 403 does not name the command: %s", got.body)
			}
		})
	}
}

func TestPluginGrantIsRevokedByASuccessfulInstallOnly(t *testing.T) { // §5 forget_allow_after_install/2
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: "6.1.4"})
	if res := w.ctl(a, "plugins", "allow", "foo-1.0"); res.ExitCode != 0 {
		t.Fatalf("allow: %+v", res)
	}
	// A refused package leaves the grant in place.
	bad := buildPlugin(t, pluginpkg.Spec{Name: "foo", Vsn: "1.0", ReleaseVsn: "1.1"})
	wantError(t, w.upload(1, "plugin", "foo-1.0.tar.gz", bad), 400, "BAD_PLUGIN_INFO", "")
	wantStatus(t, "install on the same grant", w.upload(1, "plugin", "foo-1.0.tar.gz", buildPlugin(t, fooSpec)), 204)
	wantStatus(t, "delete", w.del(1, "/api/v5/plugins/foo-1.0"), 204)
	wantError(t, w.upload(1, "plugin", "foo-1.0.tar.gz", buildPlugin(t, fooSpec)), 403, "FORBIDDEN", "Package is not allowed installation")
}

func TestPluginGrantPinnedToASha256(t *testing.T) { // §5: 403 on a sha mismatch
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: "6.2.2"})
	data := buildPlugin(t, fooSpec)
	other := Checksum(buildPlugin(t, pluginpkg.Spec{Name: "foo", Vsn: "1.0", Config: map[string]any{"x": 1}}))
	w.ctl(a, "plugins", "allow", "foo-1.0", "sha256:"+other)
	wantError(t, w.upload(1, "plugin", "foo-1.0.tar.gz", data), 403, "FORBIDDEN", "Package is not allowed installation")
	w.ctl(a, "plugins", "allow", "foo-1.0", "sha256:"+strings.ToUpper(Checksum(data)))
	wantStatus(t, "install with the pinned digest", w.upload(1, "plugin", "foo-1.0.tar.gz", data), 204)
}

func TestPluginGrantsExpireOnTheReleasesThatSaySo(t *testing.T) { // §5 "Allow entries expire after 5 min"
	for v, want := range map[string]bool{"5.9.3": true, "5.9.2": false, "5.10.4": true, "6.0.1": false, "6.0.3": true,
		"6.1.0": false, "6.1.1": false, "6.1.2": true, "6.1.4": true, "6.2.0": false, "6.2.1": true, "6.3.0": true, "6.4.0": true, "5.8.6": false} {
		if got := pluginGrantsExpire(v); got != want {
			t.Errorf("pluginGrantsExpire(%s) = %v, want %v", v, got, want)
		}
	}
	for _, c := range []struct {
		version string
		expires bool
	}{{"6.1.4", true}, {"6.2.0", false}} {
		t.Run(c.version, func(t *testing.T) {
			// 30 simulated seconds instead of 5 min keep the test short: 0.3 s of wall time.
			w := newTestWorldWith(t, Options{PluginAllowTTL: 30 * time.Second})
			a := w.pod("a-0", 1, podOpts{version: c.version})
			w.ctl(a, "plugins", "allow", "foo-1.0")
			time.Sleep(w.sim.scaled(30*time.Second) + 100*time.Millisecond)
			got := w.upload(1, "plugin", "foo-1.0.tar.gz", buildPlugin(t, fooSpec))
			if c.expires {
				wantError(t, got, 403, "FORBIDDEN", "Package is not allowed installation")
			} else {
				wantStatus(t, "install on an old grant", got, 204)
			}
		})
	}
}

func TestPluginFileNameRules(t *testing.T) { // §5 validate_file_name/2, string:trim
	for in, want := range map[string]string{"foo-1.0.tar.gz": "foo-1.0", "foo-1.0-beta.tar.gz": "foo-1.0-be",
		"my_plugin-2.3.4.tar.gz": "my_plugin-2.3.4", "foo-rata.tar.gz": "foo-"} {
		if got := nameVsnOfFile(in); got != want {
			t.Errorf("nameVsnOfFile(%s) = %s, want %s", in, got, want)
		}
	}
	w := newTestWorld(t)
	w.secret("cookie2", map[string]string{"cookie": "another"}) // two clusters: 5.8 and 6.1
	w.pod("a-0", 1, podOpts{version: "5.8.6"})
	cur := w.pod("b-0", 2, podOpts{version: "6.1.4", cookieSecret: "cookie2"})
	data := buildPlugin(t, fooSpec)
	for _, name := range []string{"1foo-1.0.tar.gz", "foo.tar.gz", "foo 1.0.tar.gz", "foo-" + strings.Repeat("1", 250) + ".tar.gz"} {
		wantError(t, w.upload(1, "plugin", name, data), 400, "BAD_PLUGIN_INFO", "Bad plugin file name: "+name)
	}
	wantError(t, w.upload(1, "package", "foo-1.0.tar.gz", data), 400, "BAD_FORM_DATA", "")
	wantError(t, w.call(1, "POST", "/api/v5/plugins/install", "application/json", "{}", true), 400, "BAD_FORM_DATA", "")

	// foo-1.0-beta.tar.gz is foo-1.0-be: a grant for foo-1.0-beta does not cover it, and on 5.8
	// (no grant) its release.json (foo, 1.0-beta) does not match.
	beta := buildPlugin(t, pluginpkg.Spec{Name: "foo", Vsn: "1.0-beta"})
	wantError(t, w.upload(1, "plugin", "foo-1.0-beta.tar.gz", beta), 400, "BAD_PLUGIN_INFO", "foo-1.0-be")
	w.ctl(cur, "plugins", "allow", "foo-1.0-beta")
	wantError(t, w.upload(2, "plugin", "foo-1.0-beta.tar.gz", beta), 403, "FORBIDDEN", "Package is not allowed installation")
	w.ctl(cur, "plugins", "allow", "foo-1.0-be")
	wantError(t, w.upload(2, "plugin", "foo-1.0-beta.tar.gz", beta), 400, "BAD_PLUGIN_INFO", "")
}

func TestPluginPackageContentAndAlreadyInstalled(t *testing.T) { // §5 BAD_PLUGIN_INFO, ALREADY_INSTALLED
	w := newTestWorld(t)
	w.pod("a-0", 1, podOpts{}) // 5.8: no grants in the way
	mismatch := buildPlugin(t, pluginpkg.Spec{Name: "foo", Vsn: "1.0", ReleaseName: "bar"})
	wantError(t, w.upload(1, "plugin", "foo-1.0.tar.gz", mismatch), 400, "BAD_PLUGIN_INFO", "")
	wantError(t, w.upload(1, "plugin", "foo-1.0.tar.gz", []byte("not a tarball")), 400, "BAD_PLUGIN_INFO", "")
	badSchema := buildPlugin(t, pluginpkg.Spec{Name: "foo", Vsn: "1.0", Schema: `{"type":"string"}`})
	wantError(t, w.upload(1, "plugin", "foo-1.0.tar.gz", badSchema), 400, "BAD_PLUGIN_INFO", "")
	if got := w.pluginOrder(1); len(got) != 0 {
		t.Errorf("refused packages were installed: %v", got)
	}
	wantStatus(t, "install", w.upload(1, "plugin", "foo-1.0.tar.gz", buildPlugin(t, fooSpec)), 204)
	wantError(t, w.upload(1, "plugin", "foo-1.0.tar.gz", buildPlugin(t, fooSpec)), 400, "ALREADY_INSTALLED", "foo-1.0 already installed")
}

func TestPluginListAcrossTheCluster(t *testing.T) { // §5 GET /plugins, trap 16
	w := newTestWorld(t)
	c0, c1, r := w.threeNodes("6.1.4")
	w.installPlugin(c0, 1, fooSpec)
	list := w.plugins(3) // asked of the replicant
	if len(list) != 1 || list[0].Name != "foo" || list[0].RelVsn != "1.0" || list[0].Description == "" {
		t.Fatalf("GET /plugins = %+v, want foo (no version in the name), rel_vsn 1.0", list)
	}
	want := map[string]string{c0: "stopped", c1: "stopped", r: "stopped"}
	if got := list[0].statuses(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("running_status = %v, want %v (every running node, replicant included)", got, want)
	}
	one := w.get(2, "/api/v5/plugins/foo-1.0")
	if one.status != 200 || one.json(t)["name"] != "foo" {
		t.Errorf("GET /plugins/foo-1.0 = %d %s", one.status, one.body)
	}
	wantError(t, w.get(1, "/api/v5/plugins/nope-1.0"), 404, "NOT_FOUND", "")
	if got := w.states(c0); !slices.Equal(got, []string{"foo-1.0"}) {
		t.Errorf("states = %v, want foo-1.0 disabled", got)
	}
	// A node without the package is absent from running_status; a stopped node too.
	w.dropPackage(r, "foo-1.0")
	w.deletePod("core-1")
	w.waitFor(func() bool { return w.nodeState(c1) == "stopped" }, "core-1 stopped")
	if got := w.pluginStatus(1, "foo-1.0"); fmt.Sprint(got) != fmt.Sprint(map[string]string{c0: "stopped"}) {
		t.Errorf("running_status = %v, want the running node that has it only", got)
	}
	if got := w.call(1, "GET", "/api/v5/plugins", "", "", false); got.status != 401 {
		t.Errorf("GET /plugins without credentials = %d", got.status)
	}
}

func TestPluginStartAndStop(t *testing.T) { // §5 start/stop
	w := newTestWorld(t)
	c0, c1, r := w.threeNodes("6.1.4")
	w.installPlugin(c0, 1, fooSpec)
	wantStatus(t, "start", w.put(3, "/api/v5/plugins/foo-1.0/start", ""), 204)
	if got := w.pluginStatus(1, "foo-1.0"); got[c0] != "running" || got[c1] != "running" || got[r] != "running" {
		t.Errorf("after start: %v", got)
	}
	if got := w.states(c0); !slices.Equal(got, []string{"foo-1.0*"}) {
		t.Errorf("states = %v, want foo-1.0 enabled", got)
	}
	wantStatus(t, "stop", w.put(1, "/api/v5/plugins/foo-1.0/stop", ""), 204)
	if got := w.pluginStatus(2, "foo-1.0"); got[c0] != "stopped" || got[c1] != "stopped" || got[r] != "stopped" {
		t.Errorf("after stop: %v", got)
	}
	if got := w.states(c0); !slices.Equal(got, []string{"foo-1.0"}) {
		t.Errorf("states = %v, want foo-1.0 disabled", got)
	}
	wantError(t, w.put(1, "/api/v5/plugins/nope-1.0/start", ""), 404, "NOT_FOUND", "")
	wantError(t, w.put(1, "/api/v5/plugins/nope-1.0/stop", ""), 404, "NOT_FOUND", "")
}

func TestPluginTwoVersionsOfOnePlugin(t *testing.T) { // §5 "6.2.0+ refuses to enable two versions" (#16904)
	for _, c := range []struct {
		version string
		refused bool
	}{{"6.1.4", false}, {"6.2.0", true}, {"6.3.0", true}} {
		t.Run(c.version, func(t *testing.T) {
			w := newTestWorld(t)
			a := w.pod("a-0", 1, podOpts{version: c.version})
			v2 := pluginpkg.Spec{Name: "foo", Vsn: "2.0"}
			w.installPlugin(a, 1, fooSpec)
			w.installPlugin(a, 1, v2)
			wantStatus(t, "start foo-1.0", w.put(1, "/api/v5/plugins/foo-1.0/start", ""), 204)
			got := w.put(1, "/api/v5/plugins/foo-2.0/start", "")
			if !c.refused {
				wantStatus(t, "start foo-2.0 beside foo-1.0", got, 204)
				if w.pluginStatus(1, "foo-2.0")[a] != "running" || w.pluginStatus(1, "foo-1.0")[a] != "running" {
					t.Errorf("both versions should run on %s", c.version)
				}
				return
			}
			wantError(t, got, 400, "PARAM_ERROR", "foo-1.0")
			if w.pluginStatus(1, "foo-2.0")[a] != "stopped" || !slices.Equal(w.states(a), []string{"foo-1.0*", "foo-2.0"}) {
				t.Errorf("refused start changed something: %v", w.states(a))
			}
			wantStatus(t, "stop foo-1.0", w.put(1, "/api/v5/plugins/foo-1.0/stop", ""), 204)
			wantStatus(t, "start foo-2.0 alone", w.put(1, "/api/v5/plugins/foo-2.0/start", ""), 204)
		})
	}
}

const fooSchema = `{"type": "record", "name": "foo_config", "fields": [
  {"name": "host", "type": "string"},
  {"name": "port", "type": "int", "default": 1883},
  {"name": "tls", "type": ["null", {"type": "record", "name": "tls", "fields": [{"name": "enable", "type": "boolean"}]}], "default": null}
]}`

func TestPluginConfig(t *testing.T) { // §5 config GET/PUT, trap 16
	w := newTestWorld(t)
	c0, c1, _ := w.threeNodes("6.1.4")
	spec := pluginpkg.Spec{Name: "foo", Vsn: "1.0", Schema: fooSchema, Config: map[string]any{"host": "a", "port": 1}}
	w.installPlugin(c0, 1, spec)
	got := w.get(2, "/api/v5/plugins/foo-1.0/config")
	if got.status != 200 || got.header.Get("Content-Type") != "'application/json'" || !jsonEqual(got.body, []byte(`{"host":"a","port":1}`)) {
		t.Fatalf("GET config = %d %s (content type %q), want the default config typed 'application/json' with the quotes",
			got.status, got.body, got.header.Get("Content-Type"))
	}
	wantStatus(t, "PUT a valid config", w.put(3, "/api/v5/plugins/foo-1.0/config", `{"host":"b","tls":{"enable":true}}`), 204)
	for body, field := range map[string]string{
		`{"port": 2}`:                             `"host"`,
		`{"host": "c", "port": "x"}`:              `"port"`,
		`{"host": "c", "port": 1.5}`:              `"port"`,
		`{"host": "c", "extra": 1}`:               `"extra"`,
		`{"host": "c", "tls": {"enable": "yes"}}`: `"tls"`,
		`[1]`: "not a JSON object",
	} {
		wantError(t, w.put(1, "/api/v5/plugins/foo-1.0/config", body), 400, "BAD_CONFIG", field)
	}
	if got := w.get(1, "/api/v5/plugins/foo-1.0/config"); !jsonEqual(got.body, []byte(`{"host":"b","tls":{"enable":true}}`)) {
		t.Errorf("after refused PUTs the config is %s, want the last valid one", got.body)
	}
	// A plugin without a config (and without a schema: anything goes once set).
	w.installPlugin(c1, 2, pluginpkg.Spec{Name: "bar", Vsn: "1.0"})
	wantError(t, w.get(1, "/api/v5/plugins/bar-1.0/config"), 400, "BAD_CONFIG", "Plugin Config Not Found")
	wantStatus(t, "PUT any object without a schema", w.put(1, "/api/v5/plugins/bar-1.0/config", `{"any":[1,2]}`), 204)
	wantError(t, w.get(1, "/api/v5/plugins/nope-1.0/config"), 404, "NOT_FOUND", "")
	wantError(t, w.put(1, "/api/v5/plugins/nope-1.0/config", `{}`), 404, "NOT_FOUND", "")
}

func TestPluginMove(t *testing.T) { // §5 move
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{})
	for _, n := range []string{"a", "b", "c"} {
		w.installPlugin(a, 1, pluginpkg.Spec{Name: n, Vsn: "1.0"})
	}
	wantStatus(t, "start b", w.put(1, "/api/v5/plugins/b-1.0/start", ""), 204)
	for _, c := range []struct {
		nv, position string
		want         []string
	}{
		{"c-1.0", "front", []string{"c-1.0", "a-1.0", "b-1.0*"}},
		{"c-1.0", "rear", []string{"a-1.0", "b-1.0*", "c-1.0"}},
		{"c-1.0", "before:b-1.0", []string{"a-1.0", "c-1.0", "b-1.0*"}},
		{"a-1.0", "after:b-1.0", []string{"c-1.0", "b-1.0*", "a-1.0"}},
	} {
		wantStatus(t, "move "+c.nv+" "+c.position, w.post(1, "/api/v5/plugins/"+c.nv+"/move", `{"position":"`+c.position+`"}`), 204)
		if got := w.states(a); !slices.Equal(got, c.want) {
			t.Errorf("after %s %s: states %v, want %v", c.nv, c.position, got, c.want)
		}
		if got, want := w.pluginOrder(1), strings.Split(strings.ReplaceAll(strings.Join(c.want, ","), "*", ""), ","); !slices.Equal(got, want) {
			t.Errorf("GET /plugins order %v, want the states' %v", got, want)
		}
	}
	wantError(t, w.post(1, "/api/v5/plugins/a-1.0/move", `{"position":"before:nope-1.0"}`), 500, "INTERNAL_ERROR", "BAD_POSITION")
	wantError(t, w.post(1, "/api/v5/plugins/a-1.0/move", `{"position":"middle"}`), 400, "MOVE_FAILED", "")
	wantError(t, w.post(1, "/api/v5/plugins/a-1.0/move", `{"position":"before:"}`), 400, "MOVE_FAILED", "")
	wantError(t, w.post(1, "/api/v5/plugins/a-1.0/move", `not json`), 400, "MOVE_FAILED", "")
	wantError(t, w.post(1, "/api/v5/plugins/nope-1.0/move", `{"position":"front"}`), 404, "NOT_FOUND", "")
	if got := w.states(a); !slices.Equal(got, []string{"c-1.0", "b-1.0*", "a-1.0"}) {
		t.Errorf("failed moves changed the states: %v", got)
	}
}

func TestPluginDelete(t *testing.T) { // §5 DELETE
	w := newTestWorld(t)
	c0, c1, r := w.threeNodes("6.1.4")
	w.installPlugin(c0, 1, pluginpkg.Spec{Name: "foo", Vsn: "1.0", Config: map[string]any{"k": "v"}})
	wantStatus(t, "start", w.put(1, "/api/v5/plugins/foo-1.0/start", ""), 204)
	wantStatus(t, "delete", w.del(2, "/api/v5/plugins/foo-1.0"), 204)
	if got := w.plugins(1); len(got) != 0 || len(w.states(c0)) != 0 {
		t.Errorf("after delete: plugins %+v, states %v", got, w.states(c0))
	}
	for _, n := range []string{c0, c1, r} {
		if out := w.ctl(n, "plugins", "list").Output; out != "" {
			t.Errorf("%s still has %q", n, out)
		}
	}
	wantError(t, w.get(1, "/api/v5/plugins/foo-1.0/config"), 404, "NOT_FOUND", "")
	wantError(t, w.del(1, "/api/v5/plugins/foo-1.0"), 404, "NOT_FOUND", "")
	// Installed again, it starts from the package's default config: the old one was dropped.
	w.installPlugin(c0, 1, pluginpkg.Spec{Name: "foo", Vsn: "1.0", Config: map[string]any{"k": "v"}})
	if got := w.get(1, "/api/v5/plugins/foo-1.0/config"); !jsonEqual(got.body, []byte(`{"k":"v"}`)) {
		t.Errorf("config after reinstall = %s", got.body)
	}
}

func TestPluginClusterSync(t *testing.T) { // §5 cluster_sync, start preflight
	w := newTestWorld(t)
	c0, c1, r := w.threeNodes("6.2.2")
	w.installPlugin(c0, 1, fooSpec)
	wantStatus(t, "start", w.put(1, "/api/v5/plugins/foo-1.0/start", ""), 204)
	w.dropPackage(c1, "foo-1.0")
	w.dropPackage(r, "foo-1.0")
	// Start preflights every running node (the 500's wording is UNVERIFIED).
	wantError(t, w.put(1, "/api/v5/plugins/foo-1.0/start", ""), 500, "INTERNAL_ERROR", c1)
	wantError(t, w.post(2, "/api/v5/plugins/cluster_sync", `{"name":"foo-1.0"}`), 404, "NOT_FOUND", "")
	// No allow grant is needed to sync; the synced nodes run it, as it is enabled.
	wantStatus(t, "cluster_sync", w.post(1, "/api/v5/plugins/cluster_sync", `{"name":"foo-1.0"}`), 204)
	want := map[string]string{c0: "running", c1: "running", r: "running"}
	if got := w.pluginStatus(1, "foo-1.0"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after cluster_sync: %v, want %v", got, want)
	}
	// A disabled plugin is copied and stays stopped.
	w.installPlugin(c0, 1, pluginpkg.Spec{Name: "bar", Vsn: "1.0"})
	w.dropPackage(r, "bar-1.0")
	wantStatus(t, "cluster_sync bar", w.post(2, "/api/v5/plugins/cluster_sync", `{"name":"bar-1.0"}`), 204)
	if got := w.pluginStatus(1, "bar-1.0"); got[r] != "stopped" || !slices.Equal(w.states(c0), []string{"foo-1.0*", "bar-1.0"}) {
		t.Errorf("bar after cluster_sync: %v, states %v", got, w.states(c0))
	}
}

func TestPluginARecreatedPodFetchesItsPluginsFromAPeer(t *testing.T) { // §5 Cluster behaviour
	w := newTestWorld(t)
	c0, c1, r := w.threeNodes("6.1.4")
	w.installPlugin(c0, 1, fooSpec)
	w.installPlugin(c0, 1, pluginpkg.Spec{Name: "bar", Vsn: "1.0"})
	wantStatus(t, "start foo", w.put(1, "/api/v5/plugins/foo-1.0/start", ""), 204)

	// The tarballs are not on the data volume: the new pod's node starts without them, fetches
	// them from a peer when it returns to its cluster, and runs the enabled one.
	w.deletePod("core-1")
	w.waitFor(func() bool { return w.nodeState(c1) == "stopped" }, "core-1 stopped")
	w.pod("core-1", 2, podOpts{version: "6.1.4", env: licenceEnv()})
	w.joined(c0, c1)
	if got := w.ctl(c1, "plugins", "list").Output; got != "bar-1.0 stopped\nfoo-1.0 running\n" {
		t.Errorf("plugins on the recreated core: %q", got)
	}
	if got := w.pluginStatus(1, "foo-1.0")[c1]; got != "running" {
		t.Errorf("foo on the recreated core: %q, want running", got)
	}
	if got := w.pluginStatus(1, "bar-1.0")[c1]; got != "stopped" {
		t.Errorf("bar on the recreated core: %q, want stopped (installed, not enabled)", got)
	}
	// A replicant joins through discovery and does the same.
	w.deletePod("repl-0")
	w.waitFor(func() bool { return w.nodeState(r) == "" }, "replicant gone")
	w.pod("repl-0", 3, podOpts{version: "6.1.4", role: "replicant", env: licenceEnv()})
	w.joined(c0, r)
	w.waitFor(func() bool { return w.pluginStatus(1, "foo-1.0")[r] == "running" }, "foo running on the new replicant")
}

func TestPluginNoPeerHasItStaysMissing(t *testing.T) { // §5 get_from_cluster/1
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: "6.1.4"})
	w.installPlugin(a, 1, pluginpkg.Spec{Name: "foo", Vsn: "1.0", Config: map[string]any{"k": 1}})
	wantStatus(t, "PUT config", w.put(1, "/api/v5/plugins/foo-1.0/config", `{"k":2}`), 204)
	wantStatus(t, "start", w.put(1, "/api/v5/plugins/foo-1.0/start", ""), 204)
	w.deletePod("a-0")
	w.waitFor(func() bool { return w.nodeState(a) == "stopped" }, "a-0 stopped")
	w.pod("a-0", 1, podOpts{version: "6.1.4"})
	if got := w.plugins(1); len(got) != 0 {
		t.Fatalf("the only node came back with %+v: no peer had the package to give", got)
	}
	if got := w.states(a); !slices.Equal(got, []string{"foo-1.0*"}) {
		t.Errorf("states = %v: the cluster config keeps the plugin", got)
	}
	wantError(t, w.put(1, "/api/v5/plugins/foo-1.0/start", ""), 500, "INTERNAL_ERROR", a)
	// Installed again, the cluster keeps its config rather than the package's default.
	w.installPlugin(a, 1, pluginpkg.Spec{Name: "foo", Vsn: "1.0", Config: map[string]any{"k": 1}})
	if got := w.get(1, "/api/v5/plugins/foo-1.0/config"); !jsonEqual(got.body, []byte(`{"k":2}`)) {
		t.Errorf("config after reinstall = %s, want the cluster's", got.body)
	}
}
