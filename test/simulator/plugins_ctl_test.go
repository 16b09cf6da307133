package simulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/broker-ops/emqx-operator/test/simulator/pluginpkg"
)

// `emqx ctl plugins …` (emqx6-behaviour.md §5, trap 16) in process and through the control API.

func TestCtlPluginsAllowAndList(t *testing.T) {
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: "6.1.4"})
	if res := w.ctl(a, "plugins", "allow", "foo-1.0"); res.ExitCode != 0 || !strings.Contains(res.Output, "foo-1.0") {
		t.Errorf("allow = %+v", res)
	}
	w.installPlugin(a, 1, fooSpec)
	w.installPlugin(a, 1, barSpec)
	if res := w.ctl(a, "plugins", "list"); res.ExitCode != 0 || res.Output != "bar-2.0 stopped\nfoo-1.0 stopped\n" {
		t.Errorf("list = %+v", res)
	}
	for _, args := range [][]string{
		{"plugins", "allow"},
		{"plugins", "allow", "foo-1.0", "md5:00"},
		{"plugins", "allow", "foo-1.0", "sha256:xyz"},
		{"plugins", "allow", "foo-1.0", "sha256:" + strings.Repeat("a", 64), "more"},
		{"plugins", "frobnicate"},
	} {
		if res := w.ctl(a, args...); res.ExitCode != 1 || !strings.Contains(res.Output, "Usage") || !strings.Contains(res.Output, "plugins allow") {
			t.Errorf("emqx ctl %v = %+v, want exit 1 and the usage (allow included)", args, res)
		}
	}
	if res := w.ctl(a, "status"); res.ExitCode != 1 {
		t.Errorf("an unsimulated command = %+v, want exit 1", res)
	}
	if _, err := w.sim.Ctl("emqx@nowhere", []string{"plugins", "list"}); err == nil {
		t.Error("ctl on an unknown node did not fail")
	}
}

var barSpec = pluginpkg.Spec{Name: "bar", Vsn: "2.0"}

func TestCtlPluginsAllowDoesNotExistBefore59(t *testing.T) {
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: "5.8.6"})
	res := w.ctl(a, "plugins", "allow", "foo-1.0")
	if res.ExitCode != 1 || !strings.Contains(res.Output, "Usage") || strings.Contains(res.Output, "allow") {
		t.Errorf("5.8 plugins allow = %+v, want exit 1 and a usage without allow", res)
	}
	w.sim.w.mu.Lock()
	grants := len(w.sim.w.clusterOf(w.sim.w.nodes[a]).plugins.grants)
	w.sim.w.mu.Unlock()
	if grants != 0 {
		t.Error("a 5.8 node recorded a grant")
	}
}

func TestCtlThroughTheControlAPI(t *testing.T) {
	w := newTestWorld(t)
	a := w.pod("a-0", 1, podOpts{version: "6.2.2"})
	srv := httptest.NewServer(w.sim.ControlHandler())
	defer srv.Close()
	ctl := func(node string, args ...string) (int, CtlResult) {
		body, _ := json.Marshal(map[string][]string{"args": args})
		resp, err := http.Post(srv.URL+"/sim/nodes/"+url.PathEscape(node)+"/ctl", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close() //nolint:errcheck
		var res CtlResult
		_ = json.NewDecoder(resp.Body).Decode(&res)
		return resp.StatusCode, res
	}
	if code, res := ctl(a, "plugins", "allow", "foo-1.0", "sha256:"+Checksum(buildPlugin(t, fooSpec))); code != 200 || res.ExitCode != 0 {
		t.Fatalf("allow through the control API = %d %+v", code, res)
	}
	wantStatus(t, "install on the grant given through the control API", w.upload(1, "plugin", "foo-1.0.tar.gz", buildPlugin(t, fooSpec)), 204)
	if code, _ := ctl("emqx@nowhere", "plugins", "list"); code != 404 {
		t.Errorf("unknown node = %d, want 404", code)
	}
	w.deletePod("a-0")
	w.waitFor(func() bool { return w.nodeState(a) == "stopped" }, "a-0 stopped")
	if code, res := ctl(a, "plugins", "list"); code != 200 || res.ExitCode != 1 || res.Output != "Node "+a+" not responding to pings.\n" {
		t.Errorf("stopped node = %d %+v", code, res)
	}
	calls := w.sim.Calls()
	if last := calls[len(calls)-1]; last.Method != "CTL" || last.Path != "emqx ctl plugins list" || last.Status != 1 {
		t.Errorf("last recorded call = %+v, want the ctl run", last)
	}
}
