package status

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func TestPluginsCondition(t *testing.T) {
	running := v2beta1.EMQXStatus{
		CoreNodes:      []v2beta1.EMQXNode{{Node: "emqx@c0", NodeStatus: "running", PodUID: "u0"}},
		ReplicantNodes: []v2beta1.EMQXNode{{Node: "emqx@r0", NodeStatus: "running", PodUID: "u1"}, {Node: "emqx@r1", NodeStatus: "stopped", PodUID: "u2"}},
	}
	plugin := func(mut func(*v2beta1.EMQXPlugin)) v2beta1.EMQXPlugin {
		pl := v2beta1.EMQXPlugin{ObjectMeta: metav1.ObjectMeta{Name: "auth", Generation: 2},
			Spec: v2beta1.EMQXPluginSpec{ClusterName: "emqx", NameVsn: "auth-1.0.0", Enabled: true},
			Status: v2beta1.EMQXPluginStatus{ObservedGeneration: 2, Nodes: []v2beta1.PluginNode{
				{Node: "emqx@c0", PodUID: "u0", NameVsn: "auth-1.0.0", Running: true},
				{Node: "emqx@r0", PodUID: "u1", NameVsn: "auth-1.0.0", Running: true}}}}
		if mut != nil {
			mut(&pl)
		}
		return pl
	}
	tests := []struct {
		name      string
		report    PluginsReport
		prev      []metav1.Condition
		ready     bool
		condition string // "" absent, else the condition's status
		message   string
		restarts  int32 // of u1's emqx container now
	}{
		{name: "no plugins: no condition", report: PluginsReport{Listed: true}, ready: true},
		{name: "on every running node (a stopped node is not waited for)", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(nil)}}, ready: true, condition: "True"},
		{name: "a recreated pod has not got it yet", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) { p.Status.Nodes[1].PodUID = "old" })}},
			condition: "False", message: "auth-1.0.0: not yet on emqx@r0"},
		{name: "a restarted container (same pod) has not got it back yet", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(nil)}},
			restarts: 1, condition: "False", message: "auth-1.0.0: not yet on emqx@r0"},
		{name: "seen again after the restart", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) { p.Status.Nodes[1].Restarts = 1 })}},
			restarts: 1, ready: true, condition: "True"},
		{name: "a package refused before it was ever installed is told but does not hold Ready", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) {
			p.Status.Nodes = nil
			p.Status.Conditions = []metav1.Condition{{Type: v2beta1.Ready, Status: "False", Reason: "ChecksumMismatch"}}
		})}}, ready: true, condition: "False", message: "not installed (ChecksumMismatch)"},
		{name: "a new node is not in the plugin's status", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) { p.Status.Nodes = p.Status.Nodes[:1] })}},
			condition: "False", message: "not yet on emqx@r0"},
		{name: "the old version still runs on a node", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) { p.Spec.NameVsn = "auth-2.0.0" })}},
			condition: "False", message: "auth-2.0.0: not yet on emqx@c0, emqx@r0"},
		{name: "a spec change not yet seen by the plugin's reconciler", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) { p.Generation = 3 })}},
			condition: "False", message: "not applied yet"},
		{name: "disabled: stopped everywhere is what is asked", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) {
			p.Spec.Enabled = false
			p.Status.Nodes[0].Running, p.Status.Nodes[1].Running = false, false
		})}}, ready: true, condition: "True"},
		{name: "a plugin that lost a name conflict is not waited for", report: PluginsReport{Listed: true, Items: []v2beta1.EMQXPlugin{plugin(func(p *v2beta1.EMQXPlugin) {
			p.Status.Nodes = nil
			p.Status.Conditions = []metav1.Condition{{Type: v2beta1.Ready, Status: "False", Reason: "Conflict"}}
		})}}, ready: true},
		{name: "not listed this pass: the last condition stands", report: PluginsReport{},
			prev: []metav1.Condition{{Type: v2beta1.PluginsReady, Status: "False", Message: "x"}}, condition: "False", message: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := *running.DeepCopy()
			s.Conditions = tt.prev
			set := func(typ string, ok bool, reason, msg string) {
				st := metav1.ConditionFalse
				if ok {
					st = metav1.ConditionTrue
				}
				meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg})
			}
			ready, _ := pluginsCondition(&s, map[string]int32{"u0": 0, "u1": tt.restarts}, Reports{Plugins: tt.report}, set)
			if ready != tt.ready {
				t.Errorf("ready = %v, want %v", ready, tt.ready)
			}
			c := meta.FindStatusCondition(s.Conditions, v2beta1.PluginsReady)
			switch {
			case tt.condition == "" && c != nil:
				t.Errorf("condition = %+v, want none", c)
			case tt.condition != "" && (c == nil || string(c.Status) != tt.condition || !strings.Contains(c.Message, tt.message)):
				t.Errorf("condition = %+v, want %s containing %q", c, tt.condition, tt.message)
			}
		})
	}
}
