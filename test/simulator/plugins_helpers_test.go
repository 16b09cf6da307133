package simulator

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"testing"

	"github.com/broker-ops/emqx-operator/test/simulator/pluginpkg"
)

// pluginInfoView is one element of GET /plugins.
type pluginInfoView struct {
	Name          string `json:"name"`
	RelVsn        string `json:"rel_vsn"`
	Description   string `json:"description"`
	RunningStatus []struct {
		Node   string `json:"node"`
		Status string `json:"status"`
	} `json:"running_status"`
}

// statuses is the plugin's running_status as node → status.
func (p pluginInfoView) statuses() map[string]string {
	out := map[string]string{}
	for _, s := range p.RunningStatus {
		out[s.Node] = s.Status
	}
	return out
}

func buildPlugin(t *testing.T, s pluginpkg.Spec) []byte {
	t.Helper()
	data, err := pluginpkg.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// upload POSTs data as the multipart field field (normally "plugin") named fileName.
func (w *testWorld) upload(ip int, field, fileName string, data []byte) answer {
	w.t.Helper()
	var buf bytes.Buffer
	form := multipart.NewWriter(&buf)
	part, err := form.CreateFormFile(field, fileName)
	if err != nil {
		w.t.Fatal(err)
	}
	_, _ = part.Write(data)
	_ = form.Close()
	return w.call(ip, "POST", "/api/v5/plugins/install", form.FormDataContentType(), buf.String(), true)
}

// ctl runs `emqx ctl args…` on node and fails the test for an unknown node.
func (w *testWorld) ctl(node string, args ...string) CtlResult {
	w.t.Helper()
	res, err := w.sim.Ctl(node, args)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

// installPlugin allows (when the release needs it) and installs s through node/ip.
func (w *testWorld) installPlugin(node string, ip int, s pluginpkg.Spec) {
	w.t.Helper()
	if res := w.ctl(node, "plugins", "allow", s.NameVsn()); res.ExitCode != 0 && atLeast(w.versionOf(node), 5, 9) {
		w.t.Fatalf("plugins allow %s: %+v", s.NameVsn(), res)
	}
	if a := w.upload(ip, "plugin", s.FileName(), buildPlugin(w.t, s)); a.status != 204 {
		w.t.Fatalf("install %s = %d %s", s.NameVsn(), a.status, a.body)
	}
}

func (w *testWorld) versionOf(node string) string {
	for _, n := range w.sim.Nodes() {
		if n.Name == node {
			return n.Version
		}
	}
	return ""
}

func (w *testWorld) plugins(ip int) []pluginInfoView {
	w.t.Helper()
	var out []pluginInfoView
	w.getInto(ip, "/api/v5/plugins", &out)
	return out
}

// pluginOrder is GET /plugins as name-vsns.
func (w *testWorld) pluginOrder(ip int) []string {
	out := []string{}
	for _, p := range w.plugins(ip) {
		out = append(out, p.Name+"-"+p.RelVsn)
	}
	return out
}

// pluginStatus is the plugin's running_status as node → status ("" key absent: not listed).
func (w *testWorld) pluginStatus(ip int, nv string) map[string]string {
	for _, p := range w.plugins(ip) {
		if p.Name+"-"+p.RelVsn == nv {
			return p.statuses()
		}
	}
	return nil
}

// dropPackage removes a node's copy of a package, as when the install RPC to it failed.
func (w *testWorld) dropPackage(node, nv string) {
	w.sim.w.mu.Lock()
	defer w.sim.w.mu.Unlock()
	delete(w.sim.w.nodes[node].plugins, nv)
}

// states is the cluster's plugins.states of node, as "nv" or "nv*" when enabled.
func (w *testWorld) states(node string) []string {
	w.sim.w.mu.Lock()
	defer w.sim.w.mu.Unlock()
	out := []string{}
	for _, st := range w.sim.w.clusterOf(w.sim.w.nodes[node]).plugins.states {
		out = append(out, st.nameVsn+map[bool]string{true: "*"}[st.enable])
	}
	return out
}

// threeNodes starts two cores and a replicant of version (with a licence that clusters) on
// 127.77.0.1-3 and waits until they form one cluster.
func (w *testWorld) threeNodes(version string) (core0, core1, repl string) {
	w.t.Helper()
	core0 = w.pod("core-0", 1, podOpts{version: version, env: licenceEnv()})
	core1 = w.pod("core-1", 2, podOpts{version: version, env: licenceEnv()})
	repl = w.pod("repl-0", 3, podOpts{version: version, role: "replicant", env: licenceEnv()})
	w.joined(core0, core1, repl)
	return core0, core1, repl
}

func wantStatus(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s = %d %s, want %d", what, a.status, a.body, status)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && mustJSON(x) == mustJSON(y)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
