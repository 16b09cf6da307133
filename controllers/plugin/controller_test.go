package plugin

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// TestASucceededRestoreMakesThePluginsOfItsClusterLookAgain: a restore may bring another plugin
// configuration (whether EMQX's import carries one depends on the release), so its success wakes
// the plugins of the restored cluster at once, not at the 5-minute resync; other clusters' plugins
// and unfinished restores wake nothing.
func TestASucceededRestoreMakesThePluginsOfItsClusterLookAgain(t *testing.T) {
	mine := &v2beta1.EMQXPlugin{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "mine"}, Spec: v2beta1.EMQXPluginSpec{ClusterName: "emqx"}}
	other := &v2beta1.EMQXPlugin{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other"}, Spec: v2beta1.EMQXPluginSpec{ClusterName: "elsewhere"}}
	r, _ := readerReconciler(t, &streamer{}, mine, other)
	restore := &v2beta1.EMQXRestore{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r"}}
	restore.Spec.ClusterName = "emqx"

	restore.Status.Phase = v2beta1.BackupRunning
	if got := r.pluginsOfRestoredCluster(context.Background(), restore); len(got) != 0 {
		t.Fatalf("a running restore woke %v", got)
	}
	restore.Status.Phase = v2beta1.BackupSucceeded
	got := r.pluginsOfRestoredCluster(context.Background(), restore)
	if len(got) != 1 || got[0].Name != "mine" {
		t.Fatalf("a succeeded restore woke %v, want the cluster's plugin only", got)
	}
}
