package render_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// testValues are the v2beta1-style cluster's values (core and replicants, two Services with
// labels and annotations of their own), with persistence, an init container and a sidecar.
func testValues(t *testing.T) values.Values {
	t.Helper()
	raw, err := os.ReadFile("../cli/testdata/v2beta1-style.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := &v2beta1.EMQX{}
	if err := yaml.Unmarshal(raw, e); err != nil {
		t.Fatal(err)
	}
	e.Labels = map[string]string{"team": "from-the-resource"}
	e.Spec.CoreTemplate.ObjectMeta.Annotations = map[string]string{"example.com/owner": "from-the-resource"}
	e.Spec.CoreTemplate.Spec.VolumeClaimTemplates.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	e.Spec.CoreTemplate.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1.36"}}
	e.Spec.CoreTemplate.Spec.ExtraContainers = []corev1.Container{{Name: "exporter", Image: "ghcr.io/example/exporter@sha256:0123"}}
	e.Default()
	return values.FromEMQX(e, values.Inputs{ReplicantsAllowed: true})
}

var sample = render.Overrides{
	ImageRegistry:     "registry.example.internal:5000/mirror",
	CommonLabels:      map[string]string{"cost-center": "42", "team": "from-the-overrides"},
	CommonAnnotations: map[string]string{"example.com/owner": "from-the-overrides", "example.com/contact": "ops@example.com"},
	PodAnnotations:    map[string]string{"sidecar.istio.io/inject": "false"},
}

func TestRewriteImage(t *testing.T) {
	const reg = "mirror.example.com:5000/m"
	for image, want := range map[string]string{
		"emqx/emqx-enterprise:5.8.6":            reg + "/emqx/emqx-enterprise:5.8.6",
		"busybox":                               reg + "/library/busybox",
		"busybox:1.36":                          reg + "/library/busybox:1.36",
		"busybox@sha256:abc":                    reg + "/library/busybox@sha256:abc",
		"docker.io/busybox:1":                   reg + "/library/busybox:1",
		"index.docker.io/emqx/emqx:5":           reg + "/emqx/emqx:5",
		"docker.io/emqx/emqx:5":                 reg + "/emqx/emqx:5",
		"quay.io/broker-ops/emqx-operator:v0.1": reg + "/broker-ops/emqx-operator:v0.1",
		"localhost/emqx:5":                      reg + "/emqx:5",
		"localhost:5000/a/b:1":                  reg + "/a/b:1",
		"ghcr.io/example/exporter@sha256:0123":  reg + "/example/exporter@sha256:0123",
		"":                                      "",
	} {
		if got := render.RewriteImage(image, reg); got != want {
			t.Errorf("RewriteImage(%q) = %q, want %q", image, got, want)
		}
		if got := render.RewriteImage(image, ""); got != image {
			t.Errorf("RewriteImage(%q, \"\") = %q", image, got)
		}
		// The chart's emqx.image template does the same as the Go function.
		if image == "" {
			continue
		}
		v := testValues(t)
		v.Image = image
		objs := renderWith(t, render.Overrides{ImageRegistry: reg}, v)
		if got := container(t, objs, "emqx-ee-core", "emqx").Image; got != want {
			t.Errorf("chart: image %q = %q, want %q", image, got, want)
		}
	}
}

func TestOverridesImages(t *testing.T) {
	objs := renderWith(t, sample, testValues(t))
	for _, c := range []struct{ workload, container, want string }{
		{"emqx-ee-core", "emqx", "registry.example.internal:5000/mirror/emqx/emqx-enterprise:5.8.6"},
		{"emqx-ee-core", "init", "registry.example.internal:5000/mirror/library/busybox:1.36"},
		{"emqx-ee-core", "exporter", "registry.example.internal:5000/mirror/example/exporter@sha256:0123"},
		{"emqx-ee-replicant", "emqx", "registry.example.internal:5000/mirror/emqx/emqx-enterprise:5.8.6"},
	} {
		if got := container(t, objs, c.workload, c.container).Image; got != c.want {
			t.Errorf("%s/%s: image %q, want %q", c.workload, c.container, got, c.want)
		}
	}
}

func TestOverridesLabelsAndAnnotations(t *testing.T) {
	v := testValues(t)
	objs := renderWith(t, sample, v)
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[render.KindOf(o)] = true
		what := render.KindOf(o) + " " + o.GetName()
		l, a := o.GetLabels(), o.GetAnnotations()
		if l["cost-center"] != "42" {
			t.Errorf("%s: labels %v lack the common label", what, l)
		}
		// The cluster's own labels win over the operator-wide ones, and a key is there once.
		if l["team"] != "from-the-resource" {
			t.Errorf("%s: label team = %q", what, l["team"])
		}
		if l[v2beta1.LabelInstance] != "emqx-ee" {
			t.Errorf("%s: selector label %q", what, l[v2beta1.LabelInstance])
		}
		if a["example.com/contact"] != "ops@example.com" {
			t.Errorf("%s: annotations %v lack the common annotation", what, a)
		}
		if a["sidecar.istio.io/inject"] != "" {
			t.Errorf("%s: a pod annotation on the object", what)
		}
		if s, ok := o.(*appsv1.StatefulSet); ok {
			pl, pa := s.Spec.Template.Labels, s.Spec.Template.Annotations
			if pl["cost-center"] != "42" || pa["sidecar.istio.io/inject"] != "false" || pa["example.com/contact"] != "" {
				t.Errorf("%s: pod labels %v, annotations %v", what, pl, pa)
			}
			if pa["apps.emqx.io/config-checksum"] != v.Config.Checksum {
				t.Errorf("%s: config checksum %q", what, pa["apps.emqx.io/config-checksum"])
			}
			if _, ok := s.Spec.Selector.MatchLabels["cost-center"]; ok {
				t.Errorf("%s: a common label in the selector", what)
			}
			for _, pvc := range s.Spec.VolumeClaimTemplates {
				if _, ok := pvc.Labels["cost-center"]; ok {
					t.Errorf("%s: a common label on the PVC template (immutable)", what)
				}
			}
			if s.Name == "emqx-ee-core" && (a["example.com/owner"] != "from-the-resource" || len(s.Spec.VolumeClaimTemplates) != 1) {
				t.Errorf("%s: annotations %v (the resource's own should win), %d PVC templates", what, a, len(s.Spec.VolumeClaimTemplates))
			}
		}
	}
	for _, k := range []string{"ServiceAccount", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"} {
		if !kinds[k] {
			t.Errorf("no %s rendered", k)
		}
	}
}

// The overrides reach nothing else: what the lifecycle logic owns renders as without them.
func TestOverridesLeaveLifecycleValues(t *testing.T) {
	v := testValues(t)
	base := renderWith(t, render.Overrides{}, v)
	with := renderWith(t, sample, v)
	if len(base) != len(with) {
		t.Fatalf("%d objects with overrides, %d without", len(with), len(base))
	}
	for i := range base {
		b, ok := base[i].(*appsv1.StatefulSet)
		if !ok {
			continue
		}
		w := with[i].(*appsv1.StatefulSet)
		if *b.Spec.Replicas != *w.Spec.Replicas || !reflect.DeepEqual(b.Spec.UpdateStrategy, w.Spec.UpdateStrategy) ||
			w.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType || !reflect.DeepEqual(b.Spec.Selector, w.Spec.Selector) ||
			!reflect.DeepEqual(b.Spec.VolumeClaimTemplates, w.Spec.VolumeClaimTemplates) {
			t.Errorf("%s: a lifecycle-owned field changed", b.Name)
		}
		if !strings.HasSuffix(w.Spec.Template.Spec.Containers[0].Image, "/"+b.Spec.Template.Spec.Containers[0].Image) {
			t.Errorf("%s: the image's repository and tag changed: %q", b.Name, w.Spec.Template.Spec.Containers[0].Image)
		}
	}
	// The operator's own keys are dropped even when a caller bypasses the allow-list.
	bypass := render.Overrides{
		CommonLabels:   map[string]string{v2beta1.LabelInstance: "other", v2beta1.LabelDBRole: "x"},
		PodAnnotations: map[string]string{"apps.emqx.io/config-checksum": "forged"},
	}
	if got := renderWith(t, bypass, v); !reflect.DeepEqual(toJSON(t, got), toJSON(t, base)) {
		t.Errorf("reserved keys reached the objects")
	}
}

func TestOverridesCache(t *testing.T) {
	v := testValues(t)
	r, err := render.New()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := r.Render(v, "prod")
	if err != nil {
		t.Fatal(err)
	}
	// Same values, same namespace, another Renderer sharing the cache: the overrides are in the key.
	o := r.WithOverrides(sample)
	with, err := o.Render(v, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(toJSON(t, plain), toJSON(t, with)) {
		t.Fatal("the overrides did not change the render")
	}
	again, err := r.Render(v, "prod")
	if err != nil || !reflect.DeepEqual(toJSON(t, plain), toJSON(t, again)) {
		t.Errorf("the base Renderer changed: %v", err)
	}
	// Overrides are copied: changing the caller's map later changes nothing.
	o2 := r.WithOverrides(render.Overrides{CommonLabels: map[string]string{"a": "b"}})
	if !r.Overrides().IsZero() || !reflect.DeepEqual(o2.Overrides().CommonLabels, map[string]string{"a": "b"}) {
		t.Errorf("overrides: %+v, %+v", r.Overrides(), o2.Overrides())
	}
	// Zero overrides render exactly as New's Renderer.
	if z, err := r.WithOverrides(render.Overrides{}).Render(v, "prod"); err != nil || !reflect.DeepEqual(toJSON(t, plain), toJSON(t, z)) {
		t.Errorf("zero overrides changed the render: %v", err)
	}
}

// values.schema.json refuses what the allow-list refuses, also when a caller bypasses it.
func TestSchema(t *testing.T) {
	raw, err := os.ReadFile("../../helm-charts/emqx/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			ImageRegistry struct {
				AnyOf []struct {
					Pattern string `json:"pattern"`
				} `json:"anyOf"`
			} `json:"imageRegistry"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	if a := schema.Properties.ImageRegistry.AnyOf; len(a) != 2 || a[1].Pattern != render.RegistryPattern.String() {
		t.Errorf("the schema's registry pattern differs from render.RegistryPattern: %+v", a)
	}
	r, err := render.New()
	if err != nil {
		t.Fatal(err)
	}
	v := testValues(t)
	for name, o := range map[string]render.Overrides{
		"registry without a dot":   {ImageRegistry: "mirror"},
		"label value with a space": {CommonLabels: map[string]string{"team": "two words"}},
		"label key":                {CommonLabels: map[string]string{"a b": "x"}},
		"annotation key":           {PodAnnotations: map[string]string{"-a": "x"}},
	} {
		if _, err := r.WithOverrides(o).Render(v, "prod"); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func renderWith(t *testing.T, o render.Overrides, v values.Values) []client.Object {
	t.Helper()
	r, err := render.New()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := r.WithOverrides(o).Render(v, "prod")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func container(t *testing.T, objs []client.Object, workload, name string) corev1.Container {
	t.Helper()
	for _, o := range objs {
		if s, ok := o.(*appsv1.StatefulSet); ok && s.Name == workload {
			for _, c := range append(append([]corev1.Container{}, s.Spec.Template.Spec.InitContainers...), s.Spec.Template.Spec.Containers...) {
				if c.Name == name {
					return c
				}
			}
		}
	}
	t.Fatalf("no container %s in StatefulSet %s", name, workload)
	return corev1.Container{}
}

func toJSON(t *testing.T, objs []client.Object) string {
	t.Helper()
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
