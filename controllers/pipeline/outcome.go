package pipeline

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Kind is how a step or a pass ends.
type Kind int

const (
	// Continue: this step is done for this pass; the next step runs.
	Continue Kind = iota
	// Wait: something must happen first (a node joining EMQX, a certificate being issued, the
	// garbage collector releasing an object); the pass stops and runs again after an interval, or
	// sooner when a watched object changes.
	Wait
	// Done: the object is where its spec wants it; only a watched change or the resync of a healthy
	// object brings the reconciler back.
	Done
	// ConfigError: the spec is wrong; retrying cannot help, the next spec change will.
	ConfigError
)

func (k Kind) String() string {
	return [...]string{"continue", "wait", "done", "configError"}[k]
}

// Outcome is how a step or a pass ends. Each kind is named, so a reconcile reads as a pipeline and
// no early return hides what happens next.
type Outcome struct {
	Kind   Kind
	After  time.Duration
	Reason string
}

// Next lets the pass go on to the next step.
func Next() Outcome { return Outcome{Kind: Continue} }

// WaitFor stops the pass and looks again after the interval.
func WaitFor(after time.Duration, reason string) Outcome {
	return Outcome{Kind: Wait, After: after, Reason: reason}
}

// Converged stops the pass with the object where its spec wants it; resync is how soon a healthy
// object is looked at again (0: only when a watched object changes).
func Converged(resync time.Duration) Outcome { return Outcome{Kind: Done, After: resync} }

// Rejected stops the pass on a spec error: nothing more is done until the spec changes.
func Rejected(reason string) Outcome { return Outcome{Kind: ConfigError, Reason: reason} }

// Stops reports whether the outcome ends the pass.
func (o Outcome) Stops() bool { return o.Kind != Continue }

// Result is what controller-runtime is told: when to run again. A config error waits for the
// watch, which delivers the spec's next change.
func (o Outcome) Result() ctrl.Result {
	if o.Kind == ConfigError || o.After <= 0 {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: o.After}
}
