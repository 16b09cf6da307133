package watches

import (
	"os"
	"strings"
	"testing"
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
