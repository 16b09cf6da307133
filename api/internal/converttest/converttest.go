// Package converttest holds what the conversion tests of every EMQX version share: a random
// filler of API objects and a comparison that shows where two objects differ.
package converttest

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/randfill"
)

// Filler fills every exported field at random, with few elements per list so that each run covers
// many objects. Quantities and times get values that survive JSON; managed fields, which are the
// API server's and never sit in a template's metadata, are left empty. Add funcs for the rest.
func Filler(seed int64, funcs ...any) *randfill.Filler {
	base := []any{
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewQuantity(c.Int63n(1<<20), resource.BinarySI)
		},
		func(t *metav1.Time, c randfill.Continue) { *t = metav1.Unix(c.Int63n(1<<31), 0) },
		func(m *[]metav1.ManagedFieldsEntry, c randfill.Continue) { *m = nil },
	}
	return randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, 2).Funcs(append(base, funcs...)...)
}

// SameJSON fails the test, showing the first line that differs, unless want and got are
// semantically equal or write the same JSON (raw JSON spelled differently, nil against empty).
func SameJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	if equality.Semantic.DeepEqual(want, got) {
		return
	}
	w, _ := json.MarshalIndent(want, "", " ")
	g, _ := json.MarshalIndent(got, "", " ")
	if string(w) == string(g) {
		return
	}
	wl, gl := strings.Split(string(w), "\n"), strings.Split(string(g), "\n")
	for i := range min(len(wl), len(gl)) {
		if wl[i] != gl[i] {
			t.Fatalf("%s: first difference at line %d: want %q, got %q\nwant:\n%s\ngot:\n%s", what, i, wl[i], gl[i], w, g)
		}
	}
	t.Fatalf("%s: differ\nwant:\n%s\ngot:\n%s", what, w, g)
}
