// Package pipeline is what every reconciler of the operator shares: how a pass ends (Outcome), the
// named intervals it waits for, the reasons it reports, the ordered list of named steps a
// reconcile runs (Run), the one status-patch helper with its one conflict policy (PatchStatus), and
// the limiter of concurrent rollouts.
//
// A reconcile is a list of Steps run top to bottom. Each step does one thing, records what it found
// in its own typed report on the pass, and returns an Outcome: Continue to the next step, Wait (for
// a reason, looked at again after an interval), Done, or ConfigError (the spec is wrong; only its
// next change helps). The step a pass stopped at is logged and is the label of the step-duration
// histogram, so "why did this pass stop at NodesJoining" is one log line.
package pipeline
