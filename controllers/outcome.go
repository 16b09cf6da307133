package controllers

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// outcome is how a reconcile pass ends. Each kind is named so Reconcile reads as a pipeline and
// no early return hides what happens next.
type outcome struct {
	kind   outcomeKind
	after  time.Duration
	reason string
}

type outcomeKind int

const (
	// done: the cluster is where the spec wants it; only watched changes (or the resync that
	// refreshes the EMQX view) bring it back.
	done outcomeKind = iota
	// wait: something outside Kubernetes' watches must happen first (nodes joining EMQX); look again later.
	wait
	// configError: the spec is wrong; retrying cannot help, the next spec change will.
	configError
)

// Intervals. EMQX cluster membership is not a Kubernetes object, so no watch reports a node
// joining or stopping: the operator looks again on these periods instead.
const (
	convergingInterval = 3 * time.Second
	readyResync        = 15 * time.Second
	// missingDependencyRetry: a referenced Secret that does not exist is not labelled, so not
	// watched, yet; its creation is noticed by looking again.
	missingDependencyRetry = 10 * time.Second
)

func (k outcomeKind) String() string {
	return [...]string{"done", "wait", "configError"}[k]
}

func doneOutcome() outcome { return outcome{kind: done, after: readyResync} }

func waitOutcome(after time.Duration, reason string) outcome {
	return outcome{kind: wait, after: after, reason: reason}
}

func configErrorOutcome(reason string) outcome { return outcome{kind: configError, reason: reason} }

func (o outcome) result() ctrl.Result {
	switch o.kind {
	case configError:
		return ctrl.Result{}
	default:
		return ctrl.Result{RequeueAfter: o.after}
	}
}
