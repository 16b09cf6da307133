package watches

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/strvals"

	"github.com/broker-ops/emqx-operator/internal/render"
)

// overrideValues is the escape hatch helm-operator-plugins gives its charts: chart values every
// cluster of a kind gets, env-expanded (Parse does that). Here it reaches only what the Go layer
// does not own, the allow-list below; a key the lifecycle logic owns is refused with why, and any
// other key is refused with the list. Keys are Helm's --set paths (dots separate levels, `\.` is a
// literal dot: commonLabels.app\.kubernetes\.io/part-of); values are taken as literal strings.

// AllowedOverrides is the allow-list, as the error message shows it.
var AllowedOverrides = []string{"imageRegistry", "commonLabels.<key>", "commonAnnotations.<key>", "podAnnotations.<key>"}

// lifecycleOwned says why a value the lifecycle logic owns is refused, by the first segment of
// the path (or any segment, for replicas and updateStrategy) that names it.
var lifecycleOwned = []struct {
	match  func(path []string) bool
	reason string
}{
	{func(p []string) bool { return p[0] == "image" },
		"the EMQX version it names decides how an upgrade rolls; for a registry mirror use imageRegistry"},
	{func(p []string) bool { return anySegment(p, "replicas") },
		"nodes are added and evacuated one at a time"},
	{func(p []string) bool { return anySegment(p, "updateStrategy") },
		"the operator replaces pods itself (OnDelete), one evacuated node at a time"},
	{func(p []string) bool { return len(p) >= 3 && p[0] == "roles" && p[2] == "enabled" },
		"replicants start only once the core nodes are ready"},
	{func(p []string) bool { return p[0] == "config" },
		"emqx.conf reaches the pods only after the running cluster has accepted it"},
}

func anySegment(path []string, name string) bool {
	for _, s := range path {
		if s == name {
			return true
		}
	}
	return false
}

// Overrides checks overrideValues against the allow-list and returns them as the renderer takes
// them. Each refused key gets a line of its own, in key order.
func (w Watch) Overrides() (render.Overrides, error) {
	var o render.Overrides
	keys := make([]string, 0, len(w.OverrideValues))
	for k := range w.OverrideValues {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kind := w.Kind
	if kind == "" {
		kind = "EMQX"
	}
	var errs []error
	for _, key := range keys {
		if err := setOverride(&o, key, w.OverrideValues[key], kind); err != nil {
			errs = append(errs, fmt.Errorf(`overrideValues key "%s" %w`, key, err)) // as written: no escaping of its backslashes
		}
	}
	if len(errs) > 0 {
		return render.Overrides{}, errors.Join(errs...)
	}
	return o, nil
}

// setOverride puts one overrideValues entry into o, or says why it may not (the error reads on
// from `overrideValues key "KEY"`).
func setOverride(o *render.Overrides, key, value, kind string) error {
	path, err := setPath(key)
	if err != nil {
		return err
	}
	var m *map[string]string
	switch path[0] {
	case "imageRegistry":
		if len(path) != 1 {
			break
		}
		if err := render.CheckImageRegistry(value); err != nil {
			return fmt.Errorf("is invalid: %w", err)
		}
		o.ImageRegistry = value
		return nil
	case "commonLabels":
		m = &o.CommonLabels
	case "commonAnnotations":
		m = &o.CommonAnnotations
	case "podAnnotations":
		m = &o.PodAnnotations
	}
	if m == nil {
		for _, owned := range lifecycleOwned {
			if owned.match(path) {
				return fmt.Errorf("is owned by the operator's lifecycle logic (%s); set it in the %s resource instead", owned.reason, kind)
			}
		}
		return fmt.Errorf("is not in the allow-list: %s", strings.Join(AllowedOverrides, ", "))
	}
	if len(path) != 2 {
		return fmt.Errorf("must name one key under %s: %s.<key>, with a key's dots escaped as helm --set wants them (%s.app\\.kubernetes\\.io/part-of)",
			path[0], path[0], path[0])
	}
	check := render.CheckAnnotationKey(path[1])
	if path[0] == "commonLabels" {
		check = render.CheckLabel(path[1], value)
	}
	if check != nil {
		return fmt.Errorf("is invalid: %w", check)
	}
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[path[1]] = value
	return nil
}

// setPath splits a key the way `helm --set KEY=…` does: the segments of the one value it names.
func setPath(key string) ([]string, error) {
	if strings.Contains(key, "=") {
		return nil, errors.New("is not a helm --set path: a key has no =")
	}
	parsed, err := strvals.ParseString(key + "=x")
	if err != nil {
		return nil, fmt.Errorf("is not a helm --set path: %w", err)
	}
	var paths [][]string
	collectPaths(parsed, nil, &paths)
	if len(paths) != 1 || len(paths[0]) == 0 {
		return nil, errors.New("must name exactly one value (a helm --set path without commas)")
	}
	return paths[0], nil
}

func collectPaths(v any, prefix []string, out *[][]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			collectPaths(e, append(append([]string(nil), prefix...), k), out)
		}
	case []any:
		for i, e := range v {
			if e == nil { // the entries a --set index skips
				continue
			}
			collectPaths(e, append(append([]string(nil), prefix...), "["+strconv.Itoa(i)+"]"), out)
		}
	default:
		*out = append(*out, prefix)
	}
}
