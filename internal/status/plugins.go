package status

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// pluginsCondition: PluginsReady from the cluster's EMQXPlugins; it returns whether every running
// node runs every plugin as asked (true without plugins). A plugin counts for a node only when its
// status saw that very pod (a recreated pod starts without plugins) with the wanted version in the
// wanted run state, at the plugin's current generation. A plugin that lost a name conflict manages
// nothing and is not waited for.
func pluginsCondition(s *v2beta1.EMQXStatus, r Reports, set func(string, bool, string, string)) (bool, string) {
	if !r.Plugins.Listed {
		c := meta.FindStatusCondition(s.Conditions, v2beta1.PluginsReady)
		if c == nil {
			return true, ""
		}
		return c.Status == "True", c.Message
	}
	var missing []string
	count := 0
	for i := range r.Plugins.Items {
		pl := &r.Plugins.Items[i]
		if !pl.DeletionTimestamp.IsZero() {
			continue
		}
		if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready); c != nil && c.Reason == "Conflict" {
			continue
		}
		count++
		if pl.Status.ObservedGeneration != pl.Generation {
			missing = append(missing, fmt.Sprintf("%s: not applied yet", pl.Spec.NameVsn))
			continue
		}
		if nodes := nodesWithout(s, pl); len(nodes) > 0 {
			missing = append(missing, fmt.Sprintf("%s: not yet on %s", pl.Spec.NameVsn, strings.Join(nodes, ", ")))
		}
	}
	if count == 0 {
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.PluginsReady)
		return true, ""
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		msg := strings.Join(missing, "; ")
		set(v2beta1.PluginsReady, false, "PluginsNotReady", msg)
		return false, msg
	}
	set(v2beta1.PluginsReady, true, "PluginsRunning", fmt.Sprintf("every running node runs its %d plugin(s) as asked", count))
	return true, ""
}

// nodesWithout lists the running nodes where the plugin's status does not show it as wanted.
func nodesWithout(s *v2beta1.EMQXStatus, pl *v2beta1.EMQXPlugin) []string {
	seen := map[string]v2beta1.PluginNode{}
	for _, n := range pl.Status.Nodes {
		seen[n.Node] = n
	}
	var out []string
	for _, nodes := range [][]v2beta1.EMQXNode{s.CoreNodes, s.ReplicantNodes} {
		for _, n := range nodes {
			if n.NodeStatus != "running" {
				continue
			}
			got, ok := seen[n.Node]
			if !ok || (n.PodUID != "" && got.PodUID != n.PodUID) || got.NameVsn != pl.Spec.NameVsn || got.Running != pl.Spec.Enabled {
				out = append(out, n.Node)
			}
		}
	}
	return out
}
