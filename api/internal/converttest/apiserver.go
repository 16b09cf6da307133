package converttest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"sigs.k8s.io/yaml"
)

// emqxCRD is the generated CRD of EMQX, relative to the repository's root.
const emqxCRD = "config/crd/bases/apps.emqx.io_emqxes.yaml"

// StoredVersion is the version of EMQX the API server stores, and the only one whose schema the
// CRD holds: the others are converted to it before anything is stored.
const StoredVersion = "v2beta1"

// storedSchema is the structural schema of the stored version, read once per test binary.
var storedSchema = sync.OnceValues(loadStoredSchema)

func loadStoredSchema() (*structuralschema.Structural, error) {
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("cannot tell where %s is", emqxCRD)
	}
	path := filepath.Join(filepath.Dir(here), "..", "..", "..", emqxCRD)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range crd.Spec.Versions {
		if !v.Storage {
			continue
		}
		if v.Name != StoredVersion {
			return nil, fmt.Errorf("%s stores %s, not %s", path, v.Name, StoredVersion)
		}
		if v.Schema == nil {
			return nil, fmt.Errorf("%s: %s has no schema", path, v.Name)
		}
		// As the API server builds it (apiextensions-apiserver's customresource_handler): the
		// internal form of the schema, made structural, with the defaults it would prune pruned.
		var internal apiextensions.CustomResourceValidation
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, &internal, nil); err != nil {
			return nil, err
		}
		s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not structural: %w", path, v.Name, err)
		}
		s = s.DeepCopy()
		if err := defaulting.PruneDefaults(s); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("%s has no stored version", path)
}

// ThroughTheAPIServer does to in what the API server does to a stored EMQX between a Go client's
// write (the operator's, or the conversion webhook's answer) and the next read: it writes in as
// JSON, where omitempty drops what Go thinks is empty, and stores it as StoreJSON does. in and out
// are of the stored version.
func ThroughTheAPIServer(t *testing.T, in, out any) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	StoreJSON(t, raw, out)
}

// StoreJSON does to an EMQX written as raw JSON of the stored version (what kubectl sends) what
// the API server does on every write and read: it prunes the fields the schema lacks, applies the
// schema's defaults to whatever is absent, and returns the result, read here into out.
func StoreJSON(t *testing.T, raw []byte, out any) {
	t.Helper()
	s, err := storedSchema()
	if err != nil {
		t.Fatalf("the CRD's schema: %v", err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	pruning.Prune(obj, s, true)
	defaulting.PruneNonNullableNullsWithoutDefaults(obj, s)
	defaulting.Default(obj, s)
	if raw, err = json.Marshal(obj); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("reading back what the API server returns: %v", err)
	}
}

// Field is the value at path ("spec.revisionHistoryLimit") in obj written as JSON, and whether
// the JSON holds it at all: what a client of the API, or the API server, would see.
func Field(t *testing.T, obj any, path string) (any, bool) {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var at any
	if err := json.Unmarshal(raw, &at); err != nil {
		t.Fatal(err)
	}
	for _, key := range strings.Split(path, ".") {
		m, ok := at.(map[string]any)
		if !ok {
			return nil, false
		}
		if at, ok = m[key]; !ok {
			return nil, false
		}
	}
	return at, true
}

// JSONObject writes, as JSON, the object that holds each value at its path ("spec.image"): how
// a client spells what it sends, fields left out included.
func JSONObject(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	obj := map[string]any{}
	for path, v := range fields {
		at := obj
		keys := strings.Split(path, ".")
		for _, key := range keys[:len(keys)-1] {
			if at[key] == nil {
				at[key] = map[string]any{}
			}
			next, ok := at[key].(map[string]any)
			if !ok {
				t.Fatalf("%s: %s holds a value, not an object", path, key)
			}
			at = next
		}
		at[keys[len(keys)-1]] = v
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Number shows an optional number for a test's message: "unset", or its value.
func Number(p *int32) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
