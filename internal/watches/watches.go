// Package watches reads watches.yaml (operator-sdk's format): which kinds the operator reconciles,
// with which chart and settings.
package watches

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Watch is one entry of watches.yaml.
type Watch struct {
	Group                   string            `json:"group"`
	Version                 string            `json:"version"`
	Kind                    string            `json:"kind"`
	Chart                   string            `json:"chart"`
	WatchDependentResources *bool             `json:"watchDependentResources,omitempty"`
	OverrideValues          map[string]string `json:"overrideValues,omitempty"`
	ReconcilePeriod         string            `json:"reconcilePeriod,omitempty"`
	MaxConcurrentReconciles int               `json:"maxConcurrentReconciles,omitempty"`
}

// GVK is the watched kind.
func (w Watch) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: w.Group, Version: w.Version, Kind: w.Kind}
}

// Period parses reconcilePeriod (0 when unset).
func (w Watch) Period() (time.Duration, error) {
	if w.ReconcilePeriod == "" {
		return 0, nil
	}
	return time.ParseDuration(w.ReconcilePeriod)
}

// EmbeddedCharts are the charts compiled into the binary, by the path watches.yaml names them with.
var EmbeddedCharts = map[string]bool{"helm-charts/emqx": true}

// Parse reads watches.yaml content and checks every entry names a chart the binary carries.
func Parse(data []byte) ([]Watch, error) {
	var ws []Watch
	if err := yaml.UnmarshalStrict(data, &ws); err != nil {
		return nil, fmt.Errorf("watches.yaml: %w", err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("watches.yaml lists no kind")
	}
	for i, w := range ws {
		if w.Group == "" || w.Version == "" || w.Kind == "" {
			return nil, fmt.Errorf("watches.yaml entry %d: group, version and kind are required", i)
		}
		if !EmbeddedCharts[strings.TrimSuffix(w.Chart, "/")] {
			return nil, fmt.Errorf("watches.yaml entry %d (%s): chart %q is not compiled into this binary", i, w.GVK(), w.Chart)
		}
		if _, err := w.Period(); err != nil {
			return nil, fmt.Errorf("watches.yaml entry %d (%s): reconcilePeriod: %w", i, w.GVK(), err)
		}
		for k, v := range w.OverrideValues {
			ws[i].OverrideValues[k] = os.ExpandEnv(v)
		}
		if _, err := ws[i].Overrides(); err != nil {
			// One line per refused key, each saying where it is.
			errs := []error{err}
			if joined, ok := err.(interface{ Unwrap() []error }); ok {
				errs = append([]error(nil), joined.Unwrap()...)
			}
			for j, e := range errs {
				errs[j] = fmt.Errorf("watches.yaml entry %d (%s): %w", i, w.GVK(), e)
			}
			return nil, errors.Join(errs...)
		}
	}
	return ws, nil
}

// Find returns the entry for a kind.
func Find(ws []Watch, gvk schema.GroupVersionKind) (Watch, bool) {
	for _, w := range ws {
		if w.GVK() == gvk {
			return w, true
		}
	}
	return Watch{}, false
}
