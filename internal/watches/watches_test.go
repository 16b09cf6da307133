package watches

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/broker-ops/emqx-operator/internal/render"
)

func TestProjectWatchesFile(t *testing.T) {
	data, err := os.ReadFile("../../watches.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := Find(ws, ws[0].GVK())
	if !ok || w.Kind != "EMQX" || w.Group != "apps.emqx.io" || w.Version != "v2beta1" || w.Chart != "helm-charts/emqx" {
		t.Errorf("watch = %+v", w)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"empty":         "[]",
		"no kind":       "- {group: a, version: v1, chart: helm-charts/emqx}",
		"unknown chart": "- {group: a, version: v1, kind: K, chart: charts/other}",
		"bad period":    "- {group: a, version: v1, kind: K, chart: helm-charts/emqx, reconcilePeriod: soon}",
		"unknown key":   "- {group: a, version: v1, kind: K, chart: helm-charts/emqx, colour: red}",
	}
	for name, in := range cases {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), "watches.yaml") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// entry is one EMQX watch with the given overrideValues block (YAML, indented for the entry).
func entry(overrides string) []byte {
	return []byte("- group: apps.emqx.io\n  version: v2beta1\n  kind: EMQX\n  chart: helm-charts/emqx\n  overrideValues:\n" + overrides)
}

func TestOverridesAllowed(t *testing.T) {
	t.Setenv("MIRROR", "registry.example.internal:5000/mirror")
	ws, err := Parse(entry(`    imageRegistry: $MIRROR
    commonLabels.team: platform
    commonLabels.app\.kubernetes\.io/part-of: messaging
    commonLabels.empty: ""
    'commonAnnotations.example\.com/owner': "team-a, team-b"
    podAnnotations.sidecar\.istio\.io/inject: "false"
    podAnnotations.replicas: "a pod annotation named replicas is not the replica count"
`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := ws[0].Overrides()
	if err != nil {
		t.Fatal(err)
	}
	want := render.Overrides{
		ImageRegistry:     "registry.example.internal:5000/mirror",
		CommonLabels:      map[string]string{"team": "platform", "app.kubernetes.io/part-of": "messaging", "empty": ""},
		CommonAnnotations: map[string]string{"example.com/owner": "team-a, team-b"},
		PodAnnotations:    map[string]string{"sidecar.istio.io/inject": "false", "replicas": "a pod annotation named replicas is not the replica count"},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("overrides = %+v\nwant %+v", o, want)
	}
}

func TestOverridesEmpty(t *testing.T) {
	for _, block := range []string{"    {}\n", ""} {
		ws, err := Parse(entry(block))
		if err != nil {
			t.Fatal(err)
		}
		if o, err := ws[0].Overrides(); err != nil || !o.IsZero() {
			t.Errorf("%q: overrides = %+v, %v", block, o, err)
		}
	}
}

// An env variable that is not set expands to "", which for imageRegistry means no override.
func TestOverridesEnvUnset(t *testing.T) {
	t.Setenv("MIRROR", "")
	ws, err := Parse(entry("    imageRegistry: ${MIRROR}\n    commonLabels.team: ${MIRROR}\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ws[0].Overrides()
	if o.ImageRegistry != "" || o.CommonLabels["team"] != "" {
		t.Errorf("overrides = %+v", o)
	}
}

func TestOverridesLifecycleOwned(t *testing.T) {
	for _, key := range []string{
		"roles.core.replicas", "roles.replicant.replicas", "updateStrategy", "updateStrategy.type",
		"roles.core.updateStrategy.type", "image", "image.registry", "image.repository", "roles.replicant.enabled",
		"config.emqxConf",
	} {
		_, err := Parse(entry("    " + key + ": x\n"))
		want := `watches.yaml entry 0 (apps.emqx.io/v2beta1, Kind=EMQX): overrideValues key "` + key +
			`" is owned by the operator's lifecycle logic (`
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "); set it in the EMQX resource instead") {
			t.Errorf("%s: err = %v", key, err)
		}
	}
	// The message names the kind of the entry.
	_, err := Parse([]byte("- {group: apps.emqx.io, version: v1beta2, kind: EmqxBroker, chart: helm-charts/emqx, overrideValues: {replicas: '5'}}"))
	if err == nil || !strings.Contains(err.Error(), "set it in the EmqxBroker resource instead") {
		t.Errorf("err = %v", err)
	}
	// image points at the key a mirror wants.
	_, err = Parse(entry("    image.registry: mirror.example.com\n"))
	if err == nil || !strings.Contains(err.Error(), "for a registry mirror use imageRegistry") {
		t.Errorf("err = %v", err)
	}
}

func TestOverridesRefused(t *testing.T) {
	allowList := "is not in the allow-list: imageRegistry, commonLabels.<key>, commonAnnotations.<key>, podAnnotations.<key>"
	for key, want := range map[string]string{
		"revisionHistoryLimit":                          allowList,
		"services[0].name":                              allowList,
		"cluster.labels.team":                           allowList,
		"global.imageRegistry":                          allowList,
		"commonLabels":                                  "must name one key under commonLabels",
		"commonLabels.app.kubernetes.io/part-of":        `must name one key under commonLabels: commonLabels.<key>, with a key's dots escaped as helm --set wants them (commonLabels.app\.kubernetes\.io/part-of)`,
		`commonLabels.apps\.emqx\.io/instance`:          "keys under apps.emqx.io/ are the operator's own",
		`podAnnotations.apps\.emqx\.io/config-checksum`: "keys under apps.emqx.io/ are the operator's own",
		"commonLabels.bad key":                          `invalid key "bad key"`,
		"commonAnnotations.a,b":                         "is not a helm --set path",
		"commonLabels.a=b":                              "is not a helm --set path: a key has no =",
	} {
		_, err := Parse(entry("    '" + key + "': x\n"))
		if err == nil || !strings.Contains(err.Error(), `overrideValues key "`+key+`" `) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", key, err, want)
		}
	}
	for name, block := range map[string]string{
		"label value":      "    commonLabels.team: 'two words'\n",
		"registry, no dot": "    imageRegistry: mirror\n",
		"registry, scheme": "    imageRegistry: https://mirror.example.com\n",
		"registry, tag":    "    imageRegistry: mirror.example.com/emqx:5\n",
	} {
		if _, err := Parse(entry(block)); err == nil || !strings.Contains(err.Error(), "is invalid") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// Every refused key is listed, one line each, in key order, each saying where it is.
	_, err := Parse(entry("    roles.core.replicas: '3'\n    colour: red\n"))
	const where = "watches.yaml entry 0 (apps.emqx.io/v2beta1, Kind=EMQX): "
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], where+`overrideValues key "colour" is not in the allow-list`) ||
		!strings.HasPrefix(lines[1], where+`overrideValues key "roles.core.replicas" is owned`) {
		t.Errorf("err = %v", err)
	}
}

func TestRegistries(t *testing.T) {
	for _, ok := range []string{"registry.example.internal", "registry.example.internal:5000/mirror", "localhost:5000", "localhost",
		"mirror:5000", "10.0.0.1:5000/a/b-c/d_e", "quay.io/emqx"} {
		if err := render.CheckImageRegistry(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
