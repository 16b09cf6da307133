package status

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/api/meta"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
)

// pluginsCondition: PluginsReady from the cluster's EMQXPlugins; it returns whether every running
// node runs every plugin as asked (true without plugins). A plugin counts for a node only when its
// status saw that very pod (a recreated pod starts without plugins) with the wanted version in the
// wanted run state, at the plugin's current generation. A plugin that lost a name conflict manages
// nothing and is not waited for.
//
// A plugin whose package was refused before it was ever installed (a wrong checksum, a package of
// another plugin) is reported here but does not hold Ready: the cluster runs as it did, and a typo
// in a plugin's spec must not stop its backups.
func pluginsCondition(s *v2beta1.EMQXStatus, restarts map[string]int32, r Reports, set func(string, bool, string, string)) (bool, string) {
	if !r.Plugins.Listed {
		c := meta.FindStatusCondition(s.Conditions, v2beta1.PluginsReady)
		if c == nil {
			return true, ""
		}
		return c.Status == "True", c.Message
	}
	var missing []string
	count, gating := 0, 0
	for i := range r.Plugins.Items {
		pl := &r.Plugins.Items[i]
		if !pl.DeletionTimestamp.IsZero() {
			continue
		}
		if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready); c != nil && c.Reason == "Conflict" {
			continue
		}
		count++
		if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready); c != nil && pl.Status.PackageSHA256 == "" && packageRefused[c.Reason] {
			missing = append(missing, fmt.Sprintf("%s: not installed (%s)", pl.Spec.NameVsn, c.Reason))
			continue
		}
		if pl.Status.ObservedGeneration != pl.Generation {
			missing = append(missing, fmt.Sprintf("%s: not applied yet", pl.Spec.NameVsn))
			gating++
			continue
		}
		if nodes := nodesWithout(s, restarts, pl); len(nodes) > 0 {
			missing = append(missing, fmt.Sprintf("%s: not yet on %s", pl.Spec.NameVsn, strings.Join(nodes, ", ")))
			gating++
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
		return gating == 0, msg
	}
	set(v2beta1.PluginsReady, true, "PluginsRunning", fmt.Sprintf("every running node runs its %d plugin(s) as asked", count))
	return true, ""
}

// nodesWithout lists the running nodes where the plugin's status does not show it as wanted.
func nodesWithout(s *v2beta1.EMQXStatus, restarts map[string]int32, pl *v2beta1.EMQXPlugin) []string {
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
			if !ok || (n.PodUID != "" && got.PodUID != n.PodUID) || got.Restarts != restarts[string(n.PodUID)] ||
				got.NameVsn != pl.Spec.NameVsn || got.Running != pl.Spec.Enabled {
				out = append(out, n.Node)
			}
		}
	}
	return out
}

// packageRefused are the plugin reasons of a package refused before it reached every node.
var packageRefused = map[string]bool{"BadPackage": true, "ChecksumMismatch": true, "PackageNotFound": true,
	"PackageUnreachable": true, "InstallRefused": true}

// emqxRestarts maps each pod's UID to its emqx container's restart count.
func emqxRestarts(o *Observed) map[string]int32 {
	out := map[string]int32{}
	if o == nil {
		return out
	}
	for i := range o.Pods {
		out[string(o.Pods[i].UID)] = EMQXRestarts(&o.Pods[i])
	}
	return out
}

// EMQXRestarts is the restart count of a pod's emqx container (a restarted container starts
// without plugins: they are not on the data volume).
func EMQXRestarts(pod *corev1.Pod) int32 {
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name == lifecycle.EMQXContainer {
			return c.RestartCount
		}
	}
	return 0
}
