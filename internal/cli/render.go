// Package cli holds the manager binary's subcommands besides the operator itself.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
	"github.com/broker-ops/emqx-operator/internal/watches"
)

// Redacted stands in for every secret value in render output, which users paste into bug reports.
const Redacted = "<generated-by-operator>"

// WatchesYAML is the watches.yaml `manager render` takes each kind's overrideValues from when
// --watches-file names none: main sets it to the compiled-in file, the one the operator reads at
// start. Empty: no overrides.
var WatchesYAML []byte

// Render implements `manager render -f FILE`: it prints, without a cluster, what the operator
// would apply for each EMQX resource in FILE ("-" for standard input), with the overrideValues
// of the watches file (--watches-file, else the compiled-in one), which it checks as the
// operator does at start.
func Render(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "file with one or more EMQX resources (YAML), or - for standard input")
	namespace := fs.String("n", "default", "namespace for resources that name none")
	watchesFile := fs.String("watches-file", "", "watches.yaml whose overrideValues to render with (default: the compiled-in one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "render: -f FILE is required")
		return 2
	}
	watchData := WatchesYAML
	if *watchesFile != "" {
		b, err := os.ReadFile(*watchesFile)
		if err != nil {
			fmt.Fprintf(stderr, "render: reading the watches file: %v\n", err)
			return 1
		}
		watchData = b
	}
	var ws []watches.Watch
	if len(watchData) > 0 {
		var err error
		if ws, err = watches.Parse(watchData); err != nil {
			// The operator refuses to start with the same message.
			fmt.Fprintf(stderr, "render: invalid watches file: %v\n", err)
			return 1
		}
	}
	in, err := readInput(*file)
	if err != nil {
		fmt.Fprintf(stderr, "render: %v\n", err)
		return 1
	}
	out, err := RenderManifestsWith(in, *namespace, ws)
	if err != nil {
		fmt.Fprintf(stderr, "render: %v\n", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// RenderManifests renders every EMQX document in a multi-document YAML stream, without overrides.
func RenderManifests(in []byte, namespace string) ([]byte, error) {
	return RenderManifestsWith(in, namespace, nil)
}

// RenderManifestsWith renders every EMQX document in a multi-document YAML stream, each kind with
// the overrideValues of its entry in ws (parsed by watches.Parse). With ws nil there are no
// overrides; otherwise a kind ws does not list is an error, since the operator would not
// reconcile it.
func RenderManifestsWith(in []byte, namespace string, ws []watches.Watch) ([]byte, error) {
	base, err := render.New()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := v2beta1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1beta2.AddToScheme(scheme); err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var out bytes.Buffer
	reader := utilyaml.NewYAMLReader(bufioReader(in))
	n := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n+1, err)
		}
		co, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("document %d: %s is not a kind the operator renders", n+1, gvk)
		}
		if co.GetNamespace() == "" {
			co.SetNamespace(namespace)
		}
		switch obj.(type) {
		case *v2beta1.EMQX, v1beta2.Cluster:
		default:
			return nil, fmt.Errorf("document %d: %s is not a kind the operator renders", n+1, gvk)
		}
		r := base
		if ws != nil {
			w, ok := watches.Find(ws, *gvk)
			if !ok {
				return nil, fmt.Errorf("document %d: the watches file has no entry for %s, so the operator would not reconcile it", n+1, gvk)
			}
			o, err := w.Overrides()
			if err != nil { // Parse has checked them
				return nil, fmt.Errorf("document %d: %w", n+1, err)
			}
			r = base.WithOverrides(o)
		}
		var objs []client.Object
		switch e := obj.(type) {
		case *v2beta1.EMQX:
			objs, err = objectsFor(r, e)
		case v1beta2.Cluster:
			objs, err = emqx4ObjectsFor(r, e, gvk.Kind)
		}
		n++
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", co.GetNamespace(), co.GetName(), err)
		}
		for _, o := range objs {
			b, err := toYAML(o)
			if err != nil {
				return nil, err
			}
			out.WriteString("---\n")
			out.Write(b)
		}
	}
	if n == 0 {
		return nil, errors.New("no EMQX resource found in the input")
	}
	return out.Bytes(), nil
}

func objectsFor(r *render.Renderer, e *v2beta1.EMQX) ([]client.Object, error) {
	e.Default()
	if p := validation.Spec(e); p != nil {
		return nil, p
	}
	var user []credentials.APIKey
	for _, k := range e.Spec.BootstrapAPIKeys {
		if k.SecretRef != nil {
			user = append(user, credentials.APIKey{Key: "<from Secret " + k.SecretRef.Key.SecretName + ">", Secret: Redacted})
			continue
		}
		user = append(user, credentials.APIKey{Key: k.Key, Secret: Redacted})
	}
	var scrape *credentials.APIKey
	if e.WantsPodMonitor() {
		scrape = &credentials.APIKey{Key: credentials.ScrapeKeyName(e), Secret: Redacted}
	}
	objs, err := desired.Objects(r, e, desired.Inputs{
		ReplicantsAllowed: true,
		OperatorKey:       credentials.APIKey{Key: credentials.OperatorKeyName(e), Secret: Redacted},
		UserKeys:          user,
		ScrapeKey:         scrape,
		LicenseKey:        Redacted,
		// Offline there is no Secret to read: the certificate shows where it goes, not what it is.
		TLS: &desired.TLSFiles{Cert: []byte("<from Secret " + e.TLSSourceSecretName() + ">"), Key: []byte(Redacted),
			CA: []byte("<from Secret " + e.TLSSourceSecretName() + ">")},
	})
	if err != nil {
		return nil, err
	}
	// The PodMonitor is applied on its own (it needs the Prometheus Operator's CRD); it is shown here.
	if pm := desired.PodMonitor(e); pm != nil {
		pm.SetOwnerReferences(objs[0].GetOwnerReferences())
		objs = append(objs, pm)
	}
	generated, err := credentials.Generated(e, fixedRandomness())
	if err != nil {
		return nil, err
	}
	return withGenerated(objs, generated...), nil
}

// fixedRandomness stands in for the generator's randomness offline: the values are redacted.
func fixedRandomness() *strings.Reader { return strings.NewReader(strings.Repeat("x", 1024)) }

// withGenerated adds the Secrets the operator would generate, owned like the rendered objects, in
// apply order, with every Secret value redacted.
func withGenerated(objs []client.Object, generated ...*corev1.Secret) []client.Object {
	for _, s := range generated {
		s.SetOwnerReferences(objs[0].GetOwnerReferences())
		objs = append(objs, s)
	}
	render.SortForApply(objs)
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok {
			redact(s)
		}
	}
	return objs
}

// emqx4ObjectsFor is what the operator applies for an EmqxEnterprise or EmqxBroker, with the
// generated credentials Secret; the licence Secret shows the spec's licence, redacted.
func emqx4ObjectsFor(r *render.Renderer, c v1beta2.Cluster, kind string) ([]client.Object, error) {
	if p := validation.Emqx4(c); p != nil {
		return nil, p
	}
	var lic []byte
	if inline, secret := c.LicenseSource(); inline != "" || secret != "" {
		lic = []byte(Redacted)
	}
	objs, err := desired.Emqx4Objects(r, c, kind, desired.Emqx4Inputs{License: lic})
	if err != nil {
		return nil, err
	}
	generated, err := credentials.Emqx4Generated(c, fixedRandomness())
	if err != nil {
		return nil, err
	}
	return withGenerated(objs, generated), nil
}

// redact replaces secret values; bootstrap-file lines keep their key names.
func redact(s *corev1.Secret) {
	s.StringData = map[string]string{}
	for k, v := range s.Data {
		if k == "bootstrap_api_key" {
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(string(v)), "\n") {
				parts := strings.SplitN(l, ":", 3)
				lines = append(lines, parts[0]+":"+Redacted+":"+parts[len(parts)-1])
			}
			s.StringData[k] = strings.Join(lines, "\n") + "\n"
			continue
		}
		if k == "username" || k == "key" || k == values.Emqx4ManagementIDKey {
			s.StringData[k] = string(v)
			continue
		}
		s.StringData[k] = Redacted
	}
	s.Data = nil
}

func toYAML(o client.Object) ([]byte, error) {
	kind := render.KindOf(o)
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	if md, ok := u["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if _, ok := u["kind"]; !ok || u["kind"] == "" {
		u["kind"] = kind
		u["apiVersion"] = apiVersionOf(kind)
	}
	return yaml.Marshal(u)
}

func apiVersionOf(kind string) string {
	switch kind {
	case "StatefulSet":
		return "apps/v1"
	case "PodDisruptionBudget":
		return "policy/v1"
	default:
		return "v1"
	}
}
