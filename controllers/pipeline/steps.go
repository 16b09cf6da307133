package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Step is one named stage of a reconcile. It reads the pass's state, records what it found in its
// own report on the pass, and says how the pass goes on.
type Step[P any] struct {
	Name string
	Run  func(ctx context.Context, p P) (Outcome, error)
}

// StepDuration is how long each step of each kind's reconcile takes. Observability and the fleet
// benchmark read it; the step label is also the step a pass stopped at in the "reconciled" log line.
var StepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "emqx_operator_reconcile_step_duration_seconds",
	Help:    "Time spent in each named step of a reconcile pass, by kind and step.",
	Buckets: []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
}, []string{"kind", "step"})

func init() { metrics.Registry.MustRegister(StepDuration) }

// Run runs the steps in order until one stops the pass, and returns that step's outcome and name.
// A step's error stops the pass too and is returned with the step's name. A list whose every step
// continues ends Done (the last step of every list decides that itself; this is the fallback).
func Run[P any](ctx context.Context, kind string, steps []Step[P], p P) (Outcome, string, error) {
	for _, s := range steps {
		start := time.Now()
		out, err := s.Run(ctx, p)
		StepDuration.WithLabelValues(kind, s.Name).Observe(time.Since(start).Seconds())
		if err != nil {
			return out, s.Name, fmt.Errorf("%s: %w", s.Name, err)
		}
		if out.Stops() {
			return out, s.Name, nil
		}
	}
	last := ""
	if len(steps) > 0 {
		last = steps[len(steps)-1].Name
	}
	return Converged(0), last, nil
}
