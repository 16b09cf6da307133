package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
