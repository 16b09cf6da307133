// Package render turns chart values into typed Kubernetes objects with the Helm engine over the
// chart embedded in the binary. Helm is only the renderer here: no release is stored anywhere.
package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"

	helmcharts "github.com/broker-ops/emqx-operator/helm-charts"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// cacheSize bounds the render cache: one entry per distinct (cluster, values), so a fleet of
// clusters that do not change costs one render each, and memory stays flat.
const cacheSize = 512

// Renderer renders the embedded emqx chart. It is safe for concurrent use.
type Renderer struct {
	chart *chart.Chart
	// schema is the chart's values.schema.json, compiled once: Helm compiles it again on every
	// render, a sixth of a render's time.
	schema  *jsonschema.Schema
	decoder runtime.Decoder
	cache   *renderCache
	// overrides are merged into every render's values; overridesKey is their part of the cache key.
	overrides    Overrides
	overridesKey string
}

// renderCache is shared by a Renderer and the ones WithOverrides derives from it.
type renderCache struct {
	mu  sync.Mutex
	lru *lru.Cache
}

// New loads the embedded chart. Its renders carry no overrides (see WithOverrides).
func New() (*Renderer, error) {
	loaded, err := embeddedChart()
	if err != nil {
		return nil, err
	}
	return &Renderer{
		chart:   loaded.chart,
		schema:  loaded.schema,
		decoder: serializer.NewCodecFactory(clientgoscheme.Scheme).UniversalDeserializer(),
		cache:   &renderCache{lru: lru.New(cacheSize)},
	}, nil
}

// WithOverrides returns a Renderer that merges o (watches.yaml's overrideValues for one kind,
// checked by internal/watches) into the values of every render. It shares r's chart and render
// cache, whose key includes the overrides; r itself is unchanged. Set it up once at start.
func (r *Renderer) WithOverrides(o Overrides) *Renderer {
	o = o.clone()
	return &Renderer{chart: r.chart, schema: r.schema, decoder: r.decoder, cache: r.cache, overrides: o, overridesKey: o.cacheKey()}
}

// Overrides returns the overrides this Renderer merges into its values.
func (r *Renderer) Overrides() Overrides { return r.overrides.clone() }

// ChartVersion is the embedded chart's version.
func (r *Renderer) ChartVersion() string { return r.chart.Metadata.Version }

// embeddedChart loads the chart compiled into the binary and its schema once per process: they
// never change, and rendering only reads them (Renderers already share one chart across workers).
var embeddedChart = sync.OnceValues(func() (loadedChart, error) {
	c, err := loadEmbedded(helmcharts.EMQX, "emqx")
	if err != nil {
		return loadedChart{}, fmt.Errorf("loading the embedded emqx chart: %w", err)
	}
	schema, err := compileSchema(c.Schema)
	if err != nil {
		return loadedChart{}, fmt.Errorf("compiling the emqx chart's values.schema.json: %w", err)
	}
	return loadedChart{chart: c, schema: schema}, nil
})

type loadedChart struct {
	chart  *chart.Chart
	schema *jsonschema.Schema
}

func loadEmbedded(fsys fs.FS, root string) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, root+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return loader.LoadFiles(files)
}

// Render returns the objects of one cluster, sorted in apply order. Each call returns fresh
// copies, which the caller may change.
func (r *Renderer) Render(v values.Values, namespace string) ([]client.Object, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding chart values: %w", err)
	}
	sum := sha256.Sum256(append([]byte(r.chart.Metadata.Version+"\x00"+namespace+"\x00"+r.overridesKey+"\x00"), raw...))
	key := hex.EncodeToString(sum[:])

	r.cache.mu.Lock()
	cached, ok := r.cache.lru.Get(key)
	r.cache.mu.Unlock()
	if ok {
		return deepCopyAll(cached.([]client.Object)), nil
	}

	objs, err := r.render(raw, namespace)
	if err != nil {
		return nil, err
	}
	r.cache.mu.Lock()
	r.cache.lru.Add(key, objs)
	r.cache.mu.Unlock()
	return deepCopyAll(objs), nil
}

func (r *Renderer) render(rawValues []byte, namespace string) ([]client.Object, error) {
	vals := map[string]any{}
	if err := json.Unmarshal(rawValues, &vals); err != nil {
		return nil, fmt.Errorf("decoding chart values: %w", err)
	}
	// The overrides set their own top-level keys only, which the translator never sets.
	maps.Copy(vals, r.overrides.chartValues())
	renderVals, err := chartutil.ToRenderValuesWithSchemaValidation(r.chart, vals,
		chartutil.ReleaseOptions{Name: "emqx", Namespace: namespace, IsInstall: true}, nil, true)
	if err != nil {
		return nil, fmt.Errorf("preparing chart values: %w", err)
	}
	if err := r.validate(renderVals); err != nil {
		return nil, err
	}
	files, err := engine.Render(r.chart, renderVals)
	if err != nil {
		return nil, fmt.Errorf("rendering the emqx chart: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if path.Ext(name) == ".yaml" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var objs []client.Object
	for _, name := range names {
		manifests := releaseutil.SplitManifests(files[name])
		keys := make([]string, 0, len(manifests))
		for k := range manifests {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			doc := manifests[k]
			if strings.TrimSpace(doc) == "" {
				continue
			}
			obj, _, err := r.decoder.Decode([]byte(doc), nil, nil)
			if err != nil {
				return nil, fmt.Errorf("decoding %s from the emqx chart: %w\n%s", name, err, doc)
			}
			co, ok := obj.(client.Object)
			if !ok {
				return nil, fmt.Errorf("%s: %T is not a Kubernetes object", name, obj)
			}
			objs = append(objs, co)
		}
	}
	SortForApply(objs)
	return objs, nil
}

// applyOrder puts objects that others refer to first.
var applyOrder = map[string]int{
	"ServiceAccount": 0, "Role": 0, "RoleBinding": 0, "Secret": 1, "ConfigMap": 2, "Service": 3, "StatefulSet": 4, "PodDisruptionBudget": 5,
}

// SortForApply sorts objects in the order they are applied: referenced objects first, then by name.
func SortForApply(objs []client.Object) {
	kind := func(o client.Object) int {
		if i, ok := applyOrder[KindOf(o)]; ok {
			return i
		}
		return len(applyOrder)
	}
	sort.SliceStable(objs, func(i, j int) bool {
		if ki, kj := kind(objs[i]), kind(objs[j]); ki != kj {
			return ki < kj
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}

// KindOf returns an object's kind from its Go type, for typed objects whose TypeMeta is empty.
func KindOf(o client.Object) string {
	if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	gvks, _, err := clientgoscheme.Scheme.ObjectKinds(o)
	if err != nil || len(gvks) == 0 {
		return ""
	}
	return gvks[0].Kind
}

func deepCopyAll(in []client.Object) []client.Object {
	out := make([]client.Object, len(in))
	for i, o := range in {
		out[i] = o.DeepCopyObject().(client.Object)
	}
	return out
}
