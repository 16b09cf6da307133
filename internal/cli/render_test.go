package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/broker-ops/emqx-operator/internal/watches"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestRenderGolden renders each testdata/*.yaml and compares it with testdata/golden/*.yaml.
// Run `go test ./internal/cli -update` after an intended change and review the diff.
func TestRenderGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(inputs) < 3 {
		t.Fatalf("expected at least 3 inputs, got %v (%v)", inputs, err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := RenderManifests(src, "default")
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			golden := filepath.Join("testdata", "golden", filepath.Base(in))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render of %s differs from %s; run `go test ./internal/cli -update` and review the diff", in, golden)
			}
			// The same input must render the same bytes every time (no random or time-based values).
			again, err := RenderManifests(src, "default")
			if err != nil || !bytes.Equal(got, again) {
				t.Errorf("render is not deterministic")
			}
			if bytes.Contains(got, []byte("s3cr3t-value")) {
				t.Errorf("render output contains a secret value")
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	cases := map[string]string{
		"not EMQX":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		"unknown field": "apiVersion: apps.emqx.io/v2beta1\nkind: EMQX\nmetadata: {name: x}\nspec: {image: a, imagee: b}\n",
		"bad HOCON":     "apiVersion: apps.emqx.io/v2beta1\nkind: EMQX\nmetadata: {name: x}\nspec:\n  image: a\n  config: {data: 'a = {'}\n",
		"empty":         "",
		"durable sessions without a volume": "apiVersion: apps.emqx.io/v2beta1\nkind: EMQX\nmetadata: {name: x}\nspec:\n  image: emqx/emqx-enterprise:6.1.4\n" +
			"  config: {data: 'durable_sessions.enable = true'}\n  coreTemplate: {spec: {replicas: 1}}\n",
		"a misspelt annotation": "apiVersion: apps.emqx.io/v2beta1\nkind: EMQX\nmetadata: {name: x, annotations: {apps.emqx.io/pause: 'true'}}\nspec: {image: a}\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := RenderManifests([]byte(in), "default"); err == nil {
				t.Errorf("expected an error")
			}
		})
	}
}

func TestRenderCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Render([]string{"-f", "testdata/minimal.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "kind: StatefulSet") {
		t.Errorf("no StatefulSet in output")
	}
	if code := Render(nil, &out, &errOut); code != 2 {
		t.Errorf("missing -f: exit %d, want 2", code)
	}
}

// mirrorWatches is docs/install.md's example: a registry mirror and labels for every EMQX kind.
const mirrorWatches = `- group: apps.emqx.io
  version: v2beta1
  kind: EMQX
  chart: helm-charts/emqx
  overrideValues:
    imageRegistry: $TEST_MIRROR
    commonLabels.app\.kubernetes\.io/part-of: messaging
    commonAnnotations.example\.com/contact: ops@example.com
- group: apps.emqx.io
  version: v1beta2
  kind: EmqxEnterprise
  chart: helm-charts/emqx
  overrideValues:
    imageRegistry: $TEST_MIRROR
    commonLabels.app\.kubernetes\.io/part-of: messaging
`

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "watches.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// renderedObjects splits render output into objects.
func renderedObjects(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, doc := range strings.Split(out, "---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	return objs
}

// chartKinds are the kinds the chart renders (Secrets and the like are built in Go).
var chartKinds = map[string]bool{"ServiceAccount": true, "ConfigMap": true, "Service": true, "StatefulSet": true, "PodDisruptionBudget": true}

func TestRenderWatchesFileOverrides(t *testing.T) {
	t.Setenv("TEST_MIRROR", "registry.example.internal:5000/mirror")
	file := writeFile(t, mirrorWatches)
	for _, in := range []string{"testdata/million-connections.yaml", "testdata/seed-article-v1beta2.yaml"} {
		var out, errOut bytes.Buffer
		if code := Render([]string{"-f", in, "--watches-file", file}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", in, code, errOut.String())
		}
		// Every image: the EMQX container and, for million-connections, the node-tuning init container.
		images := regexp.MustCompile(`(?m)^\s*image: (.*)$`).FindAllStringSubmatch(out.String(), -1)
		if in == "testdata/million-connections.yaml" && len(images) < 2 || len(images) == 0 {
			t.Errorf("%s: images %q", in, images)
		}
		for _, m := range images {
			if !strings.HasPrefix(m[1], "registry.example.internal:5000/mirror/emqx/") {
				t.Errorf("%s: image %s is not from the mirror", in, m[1])
			}
		}
		for _, o := range renderedObjects(t, out.String()) {
			kind := o["kind"].(string)
			md := o["metadata"].(map[string]any)
			labels, _ := md["labels"].(map[string]any)
			// EMQX 4's ConfigMap (files) is built in Go; the chart renders emqx.conf's for EMQX 5.
			fromChart := chartKinds[kind] && !(kind == "ConfigMap" && in == "testdata/seed-article-v1beta2.yaml")
			if fromChart != (labels["app.kubernetes.io/part-of"] == "messaging") {
				t.Errorf("%s: %s %s: labels %v", in, kind, md["name"], labels)
			}
			annotations, _ := md["annotations"].(map[string]any)
			if want := in == "testdata/million-connections.yaml" && fromChart; want != (annotations["example.com/contact"] == "ops@example.com") {
				t.Errorf("%s: %s %s: annotations %v", in, kind, md["name"], annotations)
			}
		}
	}
}

func TestRenderWatchesFileRefusesLifecycleKeys(t *testing.T) {
	data := "- group: apps.emqx.io\n  version: v2beta1\n  kind: EMQX\n  chart: helm-charts/emqx\n  overrideValues:\n    roles.core.replicas: \"5\"\n"
	_, parseErr := watches.Parse([]byte(data)) // what the operator logs as "invalid watches file" at start
	if parseErr == nil {
		t.Fatal("watches.Parse accepted roles.core.replicas")
	}
	var out, errOut bytes.Buffer
	if code := Render([]string{"-f", "testdata/minimal.yaml", "--watches-file", writeFile(t, data)}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := `render: invalid watches file: watches.yaml entry 0 (apps.emqx.io/v2beta1, Kind=EMQX): overrideValues key "roles.core.replicas" ` +
		"is owned by the operator's lifecycle logic (nodes are added and evacuated one at a time); set it in the EMQX resource instead\n"
	if errOut.String() != want || errOut.String() != "render: invalid watches file: "+parseErr.Error()+"\n" {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut.String(), want)
	}
	if out.Len() != 0 {
		t.Errorf("printed manifests for a refused watches file")
	}
	// A kind the watches file does not list is one the operator would not reconcile.
	out.Reset()
	errOut.Reset()
	if code := Render([]string{"-f", "testdata/seed-article-v1beta2.yaml", "--watches-file", writeFile(t, strings.Replace(data, "roles.core.replicas", "commonLabels.a", 1))}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "the watches file has no entry for apps.emqx.io/v1beta2, Kind=EmqxEnterprise") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
	if code := Render([]string{"-f", "testdata/minimal.yaml", "--watches-file", "no-such-file.yaml"}, &out, &errOut); code != 1 {
		t.Errorf("a missing watches file: exit %d", code)
	}
}

// The project's watches.yaml, compiled in or named, changes nothing: every golden file holds.
func TestRenderDefaultWatchesChangesNothing(t *testing.T) {
	data, err := os.ReadFile("../../watches.yaml")
	if err != nil {
		t.Fatal(err)
	}
	saved := WatchesYAML
	WatchesYAML = data
	t.Cleanup(func() { WatchesYAML = saved })
	inputs, _ := filepath.Glob("testdata/*.yaml")
	for _, in := range inputs {
		want, err := os.ReadFile(filepath.Join("testdata", "golden", filepath.Base(in)))
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"-f", in}, {"-f", in, "--watches-file", "../../watches.yaml"}} {
			var out, errOut bytes.Buffer
			if code := Render(args, &out, &errOut); code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%v: differs from the golden file", args)
			}
		}
	}
}

// docs/install.md shows docs/examples/watches-mirror.yaml as it is, and the file does what it says.
func TestRenderDocExample(t *testing.T) {
	const example = "../../docs/examples/watches-mirror.yaml"
	file, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("```yaml\n"+string(file)+"```\n")) {
		t.Errorf("docs/install.md does not show %s as it is", example)
	}
	t.Setenv("MIRROR_REGISTRY", "registry.example.internal:5000/mirror")
	for _, in := range []string{"../../config/samples/apps_v2beta1_emqx.yaml", "../../config/samples/apps_v1beta2_emqxbroker.yaml"} {
		var out, errOut bytes.Buffer
		if code := Render([]string{"-f", in, "--watches-file", example}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", in, code, errOut.String())
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*image: (.*)$`).FindAllStringSubmatch(out.String(), -1) {
			if !strings.HasPrefix(m[1], "registry.example.internal:5000/mirror/") {
				t.Errorf("%s: image %s", in, m[1])
			}
		}
		for _, want := range []string{"app.kubernetes.io/part-of: messaging", `cost-center: "4711"`, `sidecar.istio.io/inject: "false"`} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: no %s", in, want)
			}
		}
	}
	// Without the variable there is no mirror.
	t.Setenv("MIRROR_REGISTRY", "")
	var out, errOut bytes.Buffer
	if code := Render([]string{"-f", "../../config/samples/apps_v2beta1_emqx.yaml", "--watches-file", example}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "image: emqx/emqx-enterprise:") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}
