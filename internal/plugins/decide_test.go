package plugins

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

const (
	n1, n2, n3 = "emqx@a", "emqx@b", "emqx@c"
	v1, v2     = "auth-1.0.0", "auth-2.0.0"
)

// on lists a plugin with its status per node ("running" or "stopped").
func on(nameVsn string, status map[string]string) emqxapi.Plugin {
	name, vsn, _ := strings.Cut(nameVsn, "-")
	p := emqxapi.Plugin{Name: name, RelVsn: vsn}
	for _, n := range []string{n1, n2, n3} {
		if s, ok := status[n]; ok {
			p.RunningStatus = append(p.RunningStatus, emqxapi.PluginNodeStatus{Node: n, Status: s})
		}
	}
	return p
}

func all(s string) map[string]string { return map[string]string{n1: s, n2: s, n3: s} }

func TestDecide(t *testing.T) {
	nodes := []string{n1, n2, n3}
	cfg := json.RawMessage(`{"a":1,"b":"x"}`)
	tests := []struct {
		name       string
		want       Want
		obs        Observed
		action     Action
		waitReason string
		ready      int
		converged  bool
	}{
		{name: "rule 1: no running node: wait",
			want: Want{NameVsn: v1, Enabled: true}, obs: Observed{},
			waitReason: ReasonNoRunningNode},
		{name: "rule 2: on no node: install",
			want: Want{NameVsn: v1, Enabled: true}, obs: Observed{Nodes: nodes},
			action: Action{Kind: Install, NameVsn: v1}},
		{name: "rule 2: an upgrade installs the new version while the old one runs",
			want: Want{NameVsn: v2, Enabled: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running"))}},
			action: Action{Kind: Install, NameVsn: v2}},
		{name: "rule 3: a node without it (new or restarted) gets a copy from one that has it",
			want: Want{NameVsn: v1, Enabled: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, map[string]string{n2: "running", n3: "running"})}},
			action: Action{Kind: Sync, NameVsn: v1, Node: n2}, ready: 2},
		{name: "rule 4: the wanted config is set before the plugin starts",
			want: Want{NameVsn: v1, Enabled: true, Config: cfg}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("stopped"))}, Config: json.RawMessage(`{"a":0}`), ConfigFound: true},
			action: Action{Kind: SetConfig, NameVsn: v1}},
		{name: "rule 4: a plugin without any config gets the wanted one",
			want: Want{NameVsn: v1, Enabled: true, Config: cfg}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running"))}},
			action: Action{Kind: SetConfig, NameVsn: v1}, ready: 3},
		{name: "rule 4: a config EMQX refused is not sent again, and the plugin does not start under another",
			want: Want{NameVsn: v1, Enabled: true, Config: cfg, ConfigRejected: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("stopped"))}, Config: json.RawMessage(`{"a":0}`), ConfigFound: true},
			waitReason: ReasonConfigRejected},
		{name: "rule 4: an upgrade whose config the new version refuses keeps the old version running",
			want: Want{NameVsn: v2, Enabled: true, Config: cfg, ConfigRejected: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running")), on(v2, all("stopped"))}, Config: json.RawMessage(`{"a":0}`), ConfigFound: true},
			waitReason: ReasonConfigRejected},
		{name: "rule 3: copied from a node counted as running, not from one that is not",
			want: Want{NameVsn: v1, Enabled: true}, obs: Observed{Nodes: []string{n2, n3}, Plugins: []emqxapi.Plugin{on(v1, map[string]string{n1: "running", n3: "running"})}},
			action: Action{Kind: Sync, NameVsn: v1, Node: n3}, ready: 1},
		{name: "rule 3: only a node not counted as running has it: install again",
			want: Want{NameVsn: v1, Enabled: true}, obs: Observed{Nodes: []string{n2, n3}, Plugins: []emqxapi.Plugin{on(v1, map[string]string{n1: "running"})}},
			action: Action{Kind: Install, NameVsn: v1}},
		{name: "rule 4: the same config in another key order and spacing is applied",
			want: Want{NameVsn: v1, Enabled: true, Config: cfg}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running"))}, Config: json.RawMessage(`{ "b": "x", "a": 1.0 }`), ConfigFound: true},
			ready: 3, converged: true},
		{name: "rule 5: the old version stops only once the new one is on every node and configured",
			want: Want{NameVsn: v2, Enabled: true, Config: cfg}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running")), on(v2, all("stopped"))}, Config: cfg, ConfigFound: true},
			action: Action{Kind: Stop, NameVsn: v1, Upgrade: true}},
		{name: "rule 5: an old version copied to one node only still waits for the new one's copy",
			want: Want{NameVsn: v2, Enabled: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running")), on(v2, map[string]string{n1: "stopped"})}},
			action: Action{Kind: Sync, NameVsn: v2, Node: n1}},
		{name: "rule 6: after the old version stopped the new one starts",
			want: Want{NameVsn: v2, Enabled: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("stopped")), on(v2, all("stopped"))}},
			action: Action{Kind: Start, NameVsn: v2}},
		{name: "rule 5: a disabled upgrade stops the old version without calling it a gap",
			want: Want{NameVsn: v2, Enabled: false}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running")), on(v2, all("stopped"))}},
			action: Action{Kind: Stop, NameVsn: v1}, ready: 3},
		{name: "rule 6: enabled but stopped on one node: start",
			want: Want{NameVsn: v1, Enabled: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, map[string]string{n1: "running", n2: "stopped", n3: "running"})}},
			action: Action{Kind: Start, NameVsn: v1}, ready: 2},
		{name: "rule 6: disabled and running: stop",
			want: Want{NameVsn: v1, Enabled: false}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running"))}},
			action: Action{Kind: Stop, NameVsn: v1}},
		{name: "rule 6: disabled and stopped everywhere: converged",
			want: Want{NameVsn: v1, Enabled: false}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("stopped"))}},
			ready: 3, converged: true},
		{name: "rule 7: the stopped old version is removed",
			want: Want{NameVsn: v2, Enabled: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("stopped")), on(v2, all("running"))}},
			action: Action{Kind: Remove, NameVsn: v1}, ready: 3},
		{name: "other plugins are left alone",
			want: Want{NameVsn: v1, Enabled: true}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on("other-1.0", all("running")), on(v1, all("running"))}},
			ready: 3, converged: true},
		{name: "rule 8: front",
			want: Want{NameVsn: v1, Enabled: true, Position: "front"}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on("other-1.0", all("running")), on(v1, all("running"))}},
			action: Action{Kind: Move, NameVsn: v1, Position: "front"}, ready: 3},
		{name: "rule 8: before another plugin, by its name whatever its version",
			want: Want{NameVsn: v1, Enabled: true, Position: "before:other"}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on("other-1.0", all("running")), on(v1, all("running"))}},
			action: Action{Kind: Move, NameVsn: v1, Position: "before:other-1.0"}, ready: 3},
		{name: "rule 8: after another plugin, already there",
			want: Want{NameVsn: v1, Enabled: true, Position: "after:other"}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on("other-1.0", all("running")), on("third-1.0", all("running")), on(v1, all("running"))}},
			ready: 3, converged: true},
		{name: "rule 8: placed against a plugin that is not installed: wait",
			want: Want{NameVsn: v1, Enabled: true, Position: "after:missing"}, obs: Observed{Nodes: nodes, Plugins: []emqxapi.Plugin{on(v1, all("running"))}},
			waitReason: ReasonPositionTargetMissing, ready: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.want, tt.obs)
			if d.Action != tt.action {
				t.Errorf("action = %+v, want %+v", d.Action, tt.action)
			}
			if d.WaitReason != tt.waitReason {
				t.Errorf("wait = %q, want %q", d.WaitReason, tt.waitReason)
			}
			if d.ReadyNodes != tt.ready {
				t.Errorf("ready nodes = %d, want %d", d.ReadyNodes, tt.ready)
			}
			if d.Converged() != tt.converged {
				t.Errorf("converged = %v, want %v (%+v)", d.Converged(), tt.converged, d)
			}
		})
	}
}

func TestNodeStatesShowTheVersionEachNodeRuns(t *testing.T) {
	d := Decide(Want{NameVsn: v2, Enabled: true}, Observed{Nodes: []string{n3, n1, n2},
		Plugins: []emqxapi.Plugin{on(v1, map[string]string{n1: "running", n2: "running"}), on(v2, map[string]string{n1: "stopped"})}})
	want := []NodeState{{Node: n1, NameVsn: v2}, {Node: n2, NameVsn: v1, Running: true}, {Node: n3}}
	if len(d.Nodes) != len(want) {
		t.Fatalf("nodes = %+v", d.Nodes)
	}
	for i := range want {
		if d.Nodes[i] != want[i] {
			t.Errorf("node %d = %+v, want %+v", i, d.Nodes[i], want[i])
		}
	}
}
