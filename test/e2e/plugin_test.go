package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/values"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
	"github.com/broker-ops/emqx-operator/test/simulator/pluginpkg"
)

const authHookSchema = `{"type":"record","name":"config","fields":[{"name":"hostname","type":"string"},{"name":"port","type":"int"}]}`

// pluginFile writes a plugin package into the test's directory and returns its path.
func pluginFile(t *testing.T, s pluginpkg.Spec) string {
	t.Helper()
	pkg, err := pluginpkg.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), s.NameVsn()+".tar.gz")
	if err := os.WriteFile(path, pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyYAML applies a manifest with kubectl, as a user would.
func applyYAML(t *testing.T, ns, manifest string) {
	t.Helper()
	kubectl(t, "-n", ns, "apply", "-f", writeTemp(t, manifest))
}

func authHookPlugin(name, nameVsn, configMap, key, config string) string {
	return fmt.Sprintf(`apiVersion: apps.emqx.io/v2beta1
kind: EMQXPlugin
metadata:
  name: %s
spec:
  clusterName: plug
  nameVsn: %s
  package:
    configMapKeyRef: {name: %s, key: %s}
  config: %s
`, name, nameVsn, configMap, key, config)
}

func getPlugin(t testing.TB, ns, name string) *v2beta1.EMQXPlugin {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	pl := &v2beta1.EMQXPlugin{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pl); err != nil {
		t.Fatal(err)
	}
	return pl
}

// pluginReadyIs waits for the plugin's Ready condition to have this status and reason.
func pluginReadyIs(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string, timeout time.Duration) *v2beta1.EMQXPlugin {
	t.Helper()
	var pl *v2beta1.EMQXPlugin
	harness.Eventually(t, timeout, fmt.Sprintf("plugin %s Ready=%s %s", name, status, reason), func() error {
		pl = getPlugin(t, ns, name)
		c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready)
		if c == nil || c.Status != status || reason != "" && c.Reason != reason || c.ObservedGeneration != pl.Generation {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	return pl
}

// installedOn is what `emqx ctl plugins list` prints on the node: "<name-vsn> running|stopped" lines.
func installedOn(t testing.TB, node string) []string {
	t.Helper()
	res, err := env.Sim.Ctl(node, "plugins", "list")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.ReplaceAll(res.Output, " running", ":running"), " stopped", ":stopped"))
}

// everyNodeRuns checks, on every running node of the cluster, that exactly the plugin's nameVsn
// (in state) is installed of that plugin.
func everyNodeRuns(t testing.TB, ns string, want string) error {
	for _, p := range pods(t, ns) {
		if p.Labels[v2beta1.LabelInstance] != "plug" || !p.DeletionTimestamp.IsZero() {
			continue
		}
		node := nodeOf(ns, "plug", p.Name)
		var ours []string
		for _, l := range installedOn(t, node) {
			if strings.HasPrefix(l, "auth_hook-") {
				ours = append(ours, l)
			}
		}
		if want == "" && len(ours) > 0 || want != "" && !slices.Equal(ours, []string{want}) {
			return fmt.Errorf("node %s has %v, want %q", node, ours, want)
		}
	}
	return nil
}

// TestPluginsRunOnEveryNodeThroughTheirLifecycle: a plugin from a ConfigMap on a 3+2 cluster (EMQX
// 6.1, which needs `emqx ctl plugins allow` first) runs on every node with its config; a scale-out
// node has it before the cluster is Ready again; an image rollout keeps it; a config change is
// applied live (never stopped); a version upgrade never runs two versions on a node; deleting the
// resource uninstalls it everywhere. All of it through kubectl.
func TestPluginsRunOnEveryNodeThroughTheirLifecycle(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "plug", 3, 2))
	e.Spec.Image = "emqx/emqx-enterprise:6.1.4"
	licensed(e)
	create(t, e)
	env.WaitForCondition(t, ns, "plug", v2beta1.Ready, metav1.ConditionTrue, 120*time.Second)

	v1 := pluginFile(t, pluginpkg.Spec{Name: "auth_hook", Vsn: "1.0.0", Schema: authHookSchema, Config: map[string]any{"hostname": "default", "port": 0}})
	kubectl(t, "-n", ns, "create", "configmap", "auth-hook", "--from-file="+v1)
	applyYAML(t, ns, authHookPlugin("auth-hook", "auth_hook-1.0.0", "auth-hook", "auth_hook-1.0.0.tar.gz", `{hostname: db.local, port: 5432}`))
	pl := pluginReadyIs(t, ns, "auth-hook", metav1.ConditionTrue, "Ready", 60*time.Second)
	if pl.Status.ReadyNodes != "5/5" || len(pl.Status.Nodes) != 5 || pl.Status.PackageSHA256 == "" {
		t.Errorf("status = %+v", pl.Status)
	}
	if err := everyNodeRuns(t, ns, "auth_hook-1.0.0:running"); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, ns, `{"hostname":"db.local","port":5432}`)
	// The install permission was asked once, pinned to the package's digest.
	allows := ctlCalls(t, ns, "plugins allow auth_hook-1.0.0 sha256:"+pl.Status.PackageSHA256)
	if allows != 1 {
		t.Errorf("%d `emqx ctl plugins allow` runs with the package's digest, want 1", allows)
	}
	env.WaitForCondition(t, ns, "plug", v2beta1.PluginsReady, metav1.ConditionTrue, 30*time.Second)

	// Scale-out: the cluster is Ready again only once the new node runs the plugin.
	kubectl(t, "-n", ns, "patch", "emqx", "plug", "--type=merge", "-p", `{"spec":{"replicantTemplate":{"spec":{"replicas":3}}}}`)
	harness.Eventually(t, 90*time.Second, "Ready with 6 nodes", func() error {
		got := env.GetEMQX(t, ns, "plug")
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) || got.Status.ReadyNodes != "6/6" {
			return fmt.Errorf("ready nodes %s", got.Status.ReadyNodes)
		}
		// Ready: the plugin must be there already (the operator may not call it Ready before).
		if err := everyNodeRuns(t, ns, "auth_hook-1.0.0:running"); err != nil {
			t.Fatalf("Ready before the plugin reached every node: %v", err)
		}
		return nil
	})

	// An image rollout replaces every pod; each comes back without its plugins (install_dir is not
	// on the data volume) and gets them before the cluster is Ready.
	kubectl(t, "-n", ns, "patch", "emqx", "plug", "--type=merge", "-p", `{"spec":{"image":"emqx/emqx-enterprise:6.1.5"}}`)
	harness.Eventually(t, 180*time.Second, "the rollout done and Ready", func() error {
		got := env.GetEMQX(t, ns, "plug")
		for _, n := range append(got.Status.CoreNodes, got.Status.ReplicantNodes...) {
			if n.Version != "6.1.5" {
				return fmt.Errorf("node %s runs %s", n.Node, n.Version)
			}
		}
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) {
			return fmt.Errorf("not Ready")
		}
		return everyNodeRuns(t, ns, "auth_hook-1.0.0:running")
	})

	// A config change is applied live: EMQX gets the new config and the plugin never stops.
	stopsBefore := ctlOrAPICalls(t, "PUT", "/api/v5/plugins/auth_hook-1.0.0/stop", ns)
	kubectl(t, "-n", ns, "patch", "emqxplugin", "auth-hook", "--type=merge", "-p", `{"spec":{"config":{"hostname":"db2.local","port":5433}}}`)
	pluginReadyIs(t, ns, "auth-hook", metav1.ConditionTrue, "Ready", 30*time.Second)
	wantConfig(t, ns, `{"hostname":"db2.local","port":5433}`)
	if n := ctlOrAPICalls(t, "PUT", "/api/v5/plugins/auth_hook-1.0.0/stop", ns); n != stopsBefore {
		t.Errorf("the plugin was stopped %d time(s) for a config change", n-stopsBefore)
	}

	// A version upgrade: sampled on every node, never two versions running, and the gap reported.
	v2 := pluginFile(t, pluginpkg.Spec{Name: "auth_hook", Vsn: "1.1.0", Schema: authHookSchema})
	kubectl(t, "-n", ns, "create", "configmap", "auth-hook-1.1", "--from-file="+v2)
	stop := sampleTwoVersions(t, ns)
	applyYAML(t, ns, authHookPlugin("auth-hook", "auth_hook-1.1.0", "auth-hook-1.1", "auth_hook-1.1.0.tar.gz", `{hostname: db2.local, port: 5433}`))
	pl = pluginReadyIs(t, ns, "auth-hook", metav1.ConditionTrue, "Ready", 60*time.Second)
	if err := everyNodeRuns(t, ns, "auth_hook-1.1.0:running"); err != nil {
		t.Fatal(err)
	}
	if seen := stop(); len(seen) > 0 {
		t.Errorf("two versions ran at once: %v", seen)
	}
	if u := pl.Status.LastUpgrade; u == nil || u.From != "auth_hook-1.0.0" || u.To != "auth_hook-1.1.0" || u.StartedAt == nil || u.StartedAt.Before(&u.StoppedAt) {
		t.Errorf("lastUpgrade = %+v", u)
	}
	wantConfig(t, ns, `{"hostname":"db2.local","port":5433}`)

	// Deleting the resource uninstalls the plugin from every node; the cluster loses the condition.
	kubectl(t, "-n", ns, "delete", "emqxplugin", "auth-hook", "--wait=true", "--timeout=60s")
	if err := everyNodeRuns(t, ns, ""); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "PluginsReady gone from the cluster", func() error {
		if c := meta.FindStatusCondition(env.GetEMQX(t, ns, "plug").Status.Conditions, v2beta1.PluginsReady); c != nil {
			return fmt.Errorf("PluginsReady = %+v", c)
		}
		return nil
	})
}

// wantConfig checks the plugin's configuration as EMQX returns it (GET on core 0's API with the
// operator's key).
func wantConfig(t *testing.T, ns, want string) {
	t.Helper()
	harness.Eventually(t, 20*time.Second, "the plugin's config "+want, func() error {
		pl := getPlugin(t, ns, "auth-hook")
		key := &corev1.Secret{}
		ctx, cancel := harness.Ctx()
		defer cancel()
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "plug-operator-api-key"}, key); err != nil {
			return err
		}
		c := emqxapi.New(emqxapi.PodBaseURL(env.Pod(t, ns, "plug-core-0").Status.PodIP),
			emqxapi.Credentials{Key: string(key.Data[values.OperatorKeyKey]), Secret: string(key.Data[values.OperatorSecretKey])}, nil)
		got, found, err := c.PluginConfig(ctx, pl.Spec.NameVsn)
		if err != nil || !found {
			return fmt.Errorf("config: found %v, %v", found, err)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(want), &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			return fmt.Errorf("config = %s", got)
		}
		return nil
	})
}

// ctlCalls counts `emqx ctl` runs with this command line.
func ctlCalls(t *testing.T, ns, cmdline string) int {
	t.Helper()
	return ctlOrAPICalls(t, "CTL", "emqx ctl "+cmdline, ns)
}

// ctlOrAPICalls counts the calls the simulator recorded with this method and path (nodes of
// namespace ns only, when one is given).
func ctlOrAPICalls(t *testing.T, method, path string, ns ...string) int {
	t.Helper()
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range calls {
		if c.Method == method && c.Path == path && (len(ns) == 0 || strings.Contains(c.Node, "."+ns[0]+".")) {
			n++
		}
	}
	return n
}

// sampleTwoVersions samples every node's plugins every 100 ms until stop is called, and returns
// the samples where a node ran two versions of auth_hook.
func sampleTwoVersions(t *testing.T, ns string) (stop func() []string) {
	var mu sync.Mutex
	var bad []string
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			nodes, err := env.Sim.Nodes()
			if err != nil {
				continue
			}
			for _, n := range nodes {
				if n.State != "running" || !strings.Contains(n.Name, "."+ns+".") {
					continue
				}
				res, err := env.Sim.Ctl(n.Name, "plugins", "list")
				if err != nil || res.ExitCode != 0 {
					continue
				}
				if strings.Count(res.Output, " running") > 1 {
					mu.Lock()
					bad = append(bad, n.Name+": "+strings.ReplaceAll(res.Output, "\n", "; "))
					mu.Unlock()
				}
			}
		}
	}()
	return func() []string {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return bad
	}
}

// TestPluginBadInputsAreReportedWithNothingHalfInstalled: a package of another name-version, an
// unreachable URL, a checksum mismatch, a config EMQX rejects and a second resource for the same
// plugin each get a clear Ready=False reason and a Warning, and none of them leaves a package on
// any node (the rejected config leaves the running one in place); names EMQX would mangle and a
// URL without its digest are refused by the API server; deleting the cluster first does not wedge
// a plugin's finalizer.
func TestPluginBadInputsAreReportedWithNothingHalfInstalled(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "plug", 1, 1))
	e.Spec.Image = "emqx/emqx-enterprise:6.2.1"
	licensed(e)
	create(t, e)
	env.WaitForCondition(t, ns, "plug", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)

	other := pluginFile(t, pluginpkg.Spec{Name: "auth_hook", Vsn: "1.0.0", ReleaseName: "other_hook"})
	kubectl(t, "-n", ns, "create", "configmap", "mislabelled", "--from-file="+other)
	applyYAML(t, ns, authHookPlugin("mislabelled", "auth_hook-1.0.0", "mislabelled", "auth_hook-1.0.0.tar.gz", `{}`))
	pl := pluginReadyIs(t, ns, "mislabelled", metav1.ConditionFalse, "BadPackage", 30*time.Second)
	if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready); !strings.Contains(c.Message, "other_hook-1.0.0") {
		t.Errorf("message = %q", c.Message)
	}
	if n := ctlOrAPICalls(t, "POST", "/api/v5/plugins/install", ns); n != 0 {
		t.Errorf("%d installs reached EMQX for a mislabelled package", n)
	}
	// The cluster says the plugin is not installed, and stays Ready: it runs as it did, and a
	// refused package must not hold its backups.
	harness.Eventually(t, 20*time.Second, "the cluster says the plugin is not installed", func() error {
		got := env.GetEMQX(t, ns, "plug")
		c := meta.FindStatusCondition(got.Status.Conditions, v2beta1.PluginsReady)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "auth_hook-1.0.0: not installed (BadPackage)") {
			return fmt.Errorf("PluginsReady = %+v", c)
		}
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) {
			return fmt.Errorf("not Ready: %+v", meta.FindStatusCondition(got.Status.Conditions, v2beta1.Ready))
		}
		return nil
	})
	kubectl(t, "-n", ns, "delete", "emqxplugin", "mislabelled", "--wait=true", "--timeout=30s")
	env.WaitForCondition(t, ns, "plug", v2beta1.Ready, metav1.ConditionTrue, 30*time.Second)

	applyYAML(t, ns, `apiVersion: apps.emqx.io/v2beta1
kind: EMQXPlugin
metadata: {name: unreachable}
spec:
  clusterName: plug
  nameVsn: auth_hook-1.0.0
  package: {url: "http://127.0.0.1:9/auth_hook-1.0.0.tar.gz", sha256: "`+strings.Repeat("a", 64)+`"}
`)
	pluginReadyIs(t, ns, "unreachable", metav1.ConditionFalse, "PackageUnreachable", 30*time.Second)
	kubectl(t, "-n", ns, "delete", "emqxplugin", "unreachable", "--wait=true", "--timeout=30s")

	good := pluginFile(t, pluginpkg.Spec{Name: "auth_hook", Vsn: "1.0.0", Schema: authHookSchema, Config: map[string]any{"hostname": "default", "port": 0}})
	kubectl(t, "-n", ns, "create", "configmap", "auth-hook", "--from-file="+good)
	applyYAML(t, ns, `apiVersion: apps.emqx.io/v2beta1
kind: EMQXPlugin
metadata: {name: checksum}
spec:
  clusterName: plug
  nameVsn: auth_hook-1.0.0
  package: {configMapKeyRef: {name: auth-hook, key: auth_hook-1.0.0.tar.gz}, sha256: "`+strings.Repeat("0", 64)+`"}
`)
	pluginReadyIs(t, ns, "checksum", metav1.ConditionFalse, "ChecksumMismatch", 30*time.Second)
	if len(eventsWithReason(t, ns, "ChecksumMismatch")) == 0 {
		t.Error("no ChecksumMismatch Warning Event")
	}
	kubectl(t, "-n", ns, "delete", "emqxplugin", "checksum", "--wait=true", "--timeout=30s")
	if err := everyNodeRuns(t, ns, ""); err != nil {
		t.Fatal(err)
	}

	// A config EMQX refuses: the refusal is reported and not sent again; the plugin, installed with
	// its package's default config, is not started under a config the user did not ask for.
	applyYAML(t, ns, authHookPlugin("auth-hook", "auth_hook-1.0.0", "auth-hook", "auth_hook-1.0.0.tar.gz", `{hostname: db.local, port: "not a number"}`))
	pl = pluginReadyIs(t, ns, "auth-hook", metav1.ConditionFalse, "ConfigRejected", 60*time.Second)
	if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.PluginConfigApplied); c == nil || c.Reason != "ConfigRejected" || !strings.Contains(c.Message, "port") {
		t.Errorf("ConfigApplied = %+v", c)
	}
	if err := everyNodeRuns(t, ns, "auth_hook-1.0.0:stopped"); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, ns, `{"hostname":"default","port":0}`)
	puts := ctlOrAPICalls(t, "PUT", "/api/v5/plugins/auth_hook-1.0.0/config", ns)
	time.Sleep(2 * time.Second)
	if n := ctlOrAPICalls(t, "PUT", "/api/v5/plugins/auth_hook-1.0.0/config", ns); n != puts || n != 1 {
		t.Errorf("the refused config was sent %d times, want once", n)
	}

	// A second resource for the same plugin on the same cluster.
	applyYAML(t, ns, authHookPlugin("auth-hook-again", "auth_hook-1.0.0", "auth-hook", "auth_hook-1.0.0.tar.gz", `{hostname: x, port: 1}`))
	pl = pluginReadyIs(t, ns, "auth-hook-again", metav1.ConditionFalse, "Conflict", 30*time.Second)
	if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready); !strings.Contains(c.Message, "auth-hook") {
		t.Errorf("message = %q", c.Message)
	}
	// Deleting the loser leaves the owner's plugin alone.
	kubectl(t, "-n", ns, "delete", "emqxplugin", "auth-hook-again", "--wait=true", "--timeout=30s")
	if err := everyNodeRuns(t, ns, "auth_hook-1.0.0:stopped"); err != nil {
		t.Fatal(err)
	}
	// Fixing the config starts it.
	kubectl(t, "-n", ns, "patch", "emqxplugin", "auth-hook", "--type=merge", "-p", `{"spec":{"config":{"hostname":"db.local","port":5432}}}`)
	pluginReadyIs(t, ns, "auth-hook", metav1.ConditionTrue, "Ready", 30*time.Second)
	if err := everyNodeRuns(t, ns, "auth_hook-1.0.0:running"); err != nil {
		t.Fatal(err)
	}

	// The API server refuses what EMQX would mangle or could not check.
	for manifest, says := range map[string]string{
		"nameVsn: auth_hook-1.0-beta\n  package: {configMapKeyRef: {name: a, key: b}}":     "trims trailing",
		"nameVsn: auth_hook-1.0.0\n  package: {url: \"https://example.invalid/p.tar.gz\"}": "needs its sha256",
	} {
		err := env.Kubectl("-n", ns, "apply", "-f", writeTemp(t, "apiVersion: apps.emqx.io/v2beta1\nkind: EMQXPlugin\nmetadata: {name: refused}\nspec:\n  clusterName: plug\n  "+manifest+"\n"))
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("apply: %v, want a refusal saying %q", err, says)
		}
	}

	err := env.Kubectl("-n", ns, "patch", "emqxplugin", "auth-hook", "--type=merge", "-p", `{"spec":{"nameVsn":"other_hook-1.0.0"}}`)
	if err == nil || !strings.Contains(err.Error(), "only its version") {
		t.Errorf("renaming the plugin: %v, want a refusal", err)
	}

	// Deleting the cluster first: the plugin's finalizer is released.
	kubectl(t, "-n", ns, "delete", "emqx", "plug", "--wait=false")
	kubectl(t, "-n", ns, "delete", "emqxplugin", "auth-hook", "--wait=true", "--timeout=60s")
}

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// licensed gives a 5.9+/6.x cluster a licence for clustering.
func licensed(e *v2beta1.EMQX) {
	e.Spec.Config.Data = fmt.Sprintf("license.key = %q\n", simulator.EncodeTestLicense("Acme", "official", 1000000, time.Now().AddDate(2, 0, 0)))
}

// TestPluginPackageFromAClaim: a package too large for a ConfigMap lives on a PersistentVolumeClaim
// a pipeline filled; the operator reads it through a short-lived reader pod (kubectl exec … cat)
// and installs it on a 5.8 cluster; the reader pod is gone afterwards. A path that is not on the
// claim and a claim that does not exist are reported; a path leaving the volume is refused by the
// API server.
func TestPluginPackageFromAClaim(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, coreReplicantCluster(ns, "plug", 1, 1))
	applyYAML(t, ns, `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: packages}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`)
	pkg := pluginFile(t, pluginpkg.Spec{Name: "auth_hook", Vsn: "1.0.0", Schema: authHookSchema, Config: map[string]any{"hostname": "default", "port": 0}})
	onClaim := filepath.Join(env.ClaimDir(ns, "packages"), "plugins", "auth_hook-1.0.0.tar.gz")
	if err := os.MkdirAll(filepath.Dir(onClaim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(pkg, onClaim); err != nil {
		t.Fatal(err)
	}
	env.WaitForCondition(t, ns, "plug", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)

	plugin := func(name, path string) string {
		return fmt.Sprintf(`apiVersion: apps.emqx.io/v2beta1
kind: EMQXPlugin
metadata: {name: %s}
spec:
  clusterName: plug
  nameVsn: auth_hook-1.0.0
  package:
    persistentVolumeClaim: {claimName: packages, path: %q}
`, name, path)
	}
	applyYAML(t, ns, plugin("auth-hook", "plugins/auth_hook-1.0.0.tar.gz"))
	pl := pluginReadyIs(t, ns, "auth-hook", metav1.ConditionTrue, "Ready", 60*time.Second)
	if pl.Status.ReadyNodes != "2/2" || pl.Status.PackageSHA256 == "" {
		t.Errorf("status = %+v", pl.Status)
	}
	if err := everyNodeRuns(t, ns, "auth_hook-1.0.0:running"); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the reader pod gone", func() error {
		for _, p := range pods(t, ns) {
			if p.Labels["apps.emqx.io/plugin-package-reader"] != "" {
				return fmt.Errorf("reader pod %s is still there", p.Name)
			}
		}
		return nil
	})
	kubectl(t, "-n", ns, "delete", "emqxplugin", "auth-hook", "--wait=true", "--timeout=60s")

	// A file that is not there: reported with what cat said, nothing reaches EMQX, no reader stays.
	applyYAML(t, ns, plugin("missing", "plugins/auth_hook-9.9.9.tar.gz"))
	pl = pluginReadyIs(t, ns, "missing", metav1.ConditionFalse, "PackageNotFound", 60*time.Second)
	if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready); !strings.Contains(c.Message, "No such file") {
		t.Errorf("message = %q", c.Message)
	}
	if err := everyNodeRuns(t, ns, ""); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "-n", ns, "delete", "emqxplugin", "missing", "--wait=true", "--timeout=60s")

	// A claim that does not exist: no reader pod is started for it.
	applyYAML(t, ns, strings.Replace(plugin("no-claim", "p.tar.gz"), "claimName: packages", "claimName: nope", 1))
	pl = pluginReadyIs(t, ns, "no-claim", metav1.ConditionFalse, "PackageNotFound", 30*time.Second)
	if c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.Ready); !strings.Contains(c.Message, "PersistentVolumeClaim nope not found") {
		t.Errorf("message = %q", c.Message)
	}

	err := env.Kubectl("-n", ns, "apply", "-f", writeTemp(t, plugin("escape", "plugins/../../etc/passwd")))
	if err == nil || !strings.Contains(err.Error(), "no '..' segments") {
		t.Errorf("apply: %v, want a refusal", err)
	}
}
