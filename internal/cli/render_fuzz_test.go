package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// FuzzRenderManifests: whatever EMQX, EmqxEnterprise or EmqxBroker document `manager render -f`
// is given (the operator renders the same way), rendering never panics, and what it prints are
// objects the API server would take: known kinds, valid names and labels, StatefulSets whose
// selector matches their pods, valid container ports and env names, mounts of declared volumes.
// make test runs the seeds (testdata, samples, testdata/fuzz); make fuzz explores.
func FuzzRenderManifests(f *testing.F) {
	for _, glob := range []string{"testdata/*.yaml", "../../config/samples/apps_*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	decoder := renderedDecoder(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if !namesTheAPIServerTakes(in) {
			return // the API server refuses such an object before the operator sees it
		}
		out, err := RenderManifests(in, "fuzz")
		if err != nil {
			return // refused with an error: fine, as long as it did not panic
		}
		objs, err := decodeAll(decoder, out)
		if err != nil {
			t.Fatalf("render printed what does not decode: %v\n%s", err, out)
		}
		if len(objs) == 0 {
			t.Fatalf("render succeeded with no object")
		}
		for _, o := range objs {
			if problems := objectProblems(o); len(problems) > 0 {
				t.Errorf("%T %s: %s", o, o.GetName(), strings.Join(problems, "; "))
			}
		}
	})
}

// namesTheAPIServerTakes: every document's metadata.name and namespace are what the API server
// accepts for a custom resource (a DNS subdomain, a DNS label). Name length is not filtered: a
// long name the API server takes must still render valid objects.
func namesTheAPIServerTakes(in []byte) bool {
	r := utilyaml.NewYAMLReader(bufioReader(in))
	for {
		doc, err := r.Read()
		if err != nil {
			return true // the renderer reports unreadable input itself
		}
		var meta struct {
			Kind     string                           `json:"kind"`
			Metadata struct{ Name, Namespace string } `json:"metadata"`
		}
		if yaml.Unmarshal(doc, &meta) != nil {
			return true
		}
		if meta.Kind == "" {
			continue // a comment or an empty document
		}
		if len(validation.IsDNS1123Subdomain(meta.Metadata.Name)) > 0 ||
			meta.Metadata.Namespace != "" && len(validation.IsDNS1123Label(meta.Metadata.Namespace)) > 0 {
			return false
		}
	}
}

func renderedDecoder(f *testing.F) runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(s); err != nil {
			f.Fatal(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}

func decodeAll(d runtime.Decoder, out []byte) ([]client.Object, error) {
	var objs []client.Object
	r := utilyaml.NewYAMLReader(bufioReader(out))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := d.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) { // cert-manager's Certificate: the operator has no Go type for it
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				return nil, err
			}
			obj, err = u, nil
		}
		if err != nil {
			return nil, err
		}
		co, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%T is not an object", obj)
		}
		objs = append(objs, co)
	}
}

// objectProblems are the API server's checks that depend on what the operator computes (names,
// labels, selectors, ports, env and mounts), not on values the user's spec passes through.
func objectProblems(o client.Object) []string {
	var p []string
	add := func(what string, errs []string) {
		for _, e := range errs {
			p = append(p, what+": "+e)
		}
	}
	add("name", validation.IsDNS1123Subdomain(o.GetName()))
	add("namespace", validation.IsDNS1123Label(o.GetNamespace()))
	for k, v := range o.GetLabels() {
		add("label key "+k, validation.IsQualifiedName(k))
		add("label "+k+" value", validation.IsValidLabelValue(v))
	}
	switch x := o.(type) {
	case *corev1.Service:
		add("Service name", validation.IsDNS1035Label(x.Name))
		for _, port := range x.Spec.Ports {
			add("Service port "+port.Name, validation.IsValidPortNum(int(port.Port)))
		}
	case *appsv1.StatefulSet:
		// Pods are named <name>-<ordinal> and carry it as the controller-revision-hash label's
		// prefix, which must stay a valid label value.
		add("StatefulSet name", validation.IsDNS1035Label(x.Name))
		if x.Spec.Selector == nil {
			p = append(p, "StatefulSet without a selector")
			break
		}
		sel, err := metaSelector(x)
		if err != nil {
			p = append(p, err.Error())
		} else if !sel.Matches(labels.Set(x.Spec.Template.Labels)) {
			p = append(p, fmt.Sprintf("selector %s does not match the pod template's labels %v", sel, x.Spec.Template.Labels))
		}
		claims := map[string]bool{}
		for _, c := range x.Spec.VolumeClaimTemplates {
			claims[c.Name] = true
		}
		p = append(p, podProblems(x.Spec.Template.Spec, claims)...)
	}
	return p
}

func metaSelector(s *appsv1.StatefulSet) (labels.Selector, error) {
	if len(s.Spec.Selector.MatchExpressions) > 0 {
		return nil, fmt.Errorf("unexpected match expressions in %s's selector", s.Name)
	}
	return labels.SelectorFromSet(s.Spec.Selector.MatchLabels), nil
}

func podProblems(spec corev1.PodSpec, claims map[string]bool) []string {
	var p []string
	volumes := map[string]bool{}
	for c := range claims {
		volumes[c] = true
	}
	for _, v := range spec.Volumes {
		if volumes[v.Name] {
			p = append(p, "volume "+v.Name+" declared twice")
		}
		volumes[v.Name] = true
		for _, e := range validation.IsDNS1123Label(v.Name) {
			p = append(p, "volume "+v.Name+": "+e)
		}
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		if c.Image == "" {
			p = append(p, "container "+c.Name+" has no image")
		}
		for _, port := range c.Ports {
			for _, e := range validation.IsValidPortNum(int(port.ContainerPort)) {
				p = append(p, fmt.Sprintf("container %s port %d: %s", c.Name, port.ContainerPort, e))
			}
			if port.Name != "" {
				for _, e := range validation.IsValidPortName(port.Name) {
					p = append(p, "container "+c.Name+" port name "+port.Name+": "+e)
				}
			}
		}
		for _, env := range c.Env {
			for _, e := range validation.IsEnvVarName(env.Name) {
				p = append(p, "container "+c.Name+" env "+env.Name+": "+e)
			}
		}
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				p = append(p, "container "+c.Name+" mounts undeclared volume "+m.Name)
			}
			if paths[m.MountPath] {
				p = append(p, "container "+c.Name+" mounts two volumes at "+m.MountPath)
			}
			paths[m.MountPath] = true
		}
	}
	return p
}
