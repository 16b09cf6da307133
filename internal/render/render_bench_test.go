package render_test

import (
	"fmt"
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/values"
)

func v2beta1StyleValues(b *testing.B) values.Values {
	b.Helper()
	raw, err := os.ReadFile("../cli/testdata/v2beta1-style.yaml")
	if err != nil {
		b.Fatal(err)
	}
	e := &v2beta1.EMQX{}
	if err := yaml.Unmarshal(raw, e); err != nil {
		b.Fatal(err)
	}
	e.Default()
	return values.FromEMQX(e, values.Inputs{ReplicantsAllowed: true})
}

// BenchmarkRenderFirst renders with a new Renderer, so an empty cache, each time (a new cluster or
// a spec change; the embedded chart is loaded once per process). Target: under 10 ms.
func BenchmarkRenderFirst(b *testing.B) {
	v := v2beta1StyleValues(b)
	b.ReportAllocs()
	for b.Loop() {
		r, err := render.New()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Render(v, "prod"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderCached renders values already in the cache (every reconcile of a steady cluster).
// Target: under 1 ms.
func BenchmarkRenderCached(b *testing.B) {
	v := v2beta1StyleValues(b)
	r, err := render.New()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Render(v, "prod"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(v, "prod"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderUncached renders values the cache has not seen with one Renderer, whose cache
// grows as a running operator's does. Target: under 10 ms.
func BenchmarkRenderUncached(b *testing.B) {
	v := v2beta1StyleValues(b)
	r, err := render.New()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := r.Render(v, fmt.Sprintf("ns-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
}
