package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
)

func TestOutcomeResult(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  Outcome
		want ctrl.Result
	}{
		{"a wait looks again after its interval", WaitFor(3*time.Second, "NodesJoining"), ctrl.Result{RequeueAfter: 3 * time.Second}},
		{"done looks again on the resync", Converged(15 * time.Second), ctrl.Result{RequeueAfter: 15 * time.Second}},
		{"done without a resync waits for a watch", Converged(0), ctrl.Result{}},
		{"a config error waits for the spec's next change", Rejected("Invalid"), ctrl.Result{}},
		{"a wait for a watch only (a Job running)", WaitFor(0, "JobRunning"), ctrl.Result{}},
	} {
		if got := tc.out.Result(); got != tc.want {
			t.Errorf("%s: Result() = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if Next().Stops() || !WaitFor(time.Second, "x").Stops() || !Converged(0).Stops() || !Rejected("x").Stops() {
		t.Error("only Continue lets a pass go on")
	}
}

func TestAfterStatusWrite(t *testing.T) {
	boom, conflict := errors.New("boom"), WaitFor(StatusConflict, ReasonStatusConflict)
	for _, tc := range []struct {
		name      string
		pass      Outcome
		passErr   error
		write     Outcome
		writeErr  error
		want      Outcome
		wantError bool
	}{
		{"written: the pass's outcome stands", Converged(time.Minute), nil, Next(), nil, Converged(time.Minute), false},
		{"a conflict runs the pass again soon", Converged(time.Minute), nil, conflict, nil, conflict, false},
		{"a pass error is returned, conflict or not", WaitFor(time.Second, "x"), boom, conflict, nil, WaitFor(time.Second, "x"), true},
		{"a write error is returned", Converged(0), nil, Outcome{}, boom, Converged(0), true},
	} {
		got, err := AfterStatusWrite(tc.pass, tc.passErr, tc.write, tc.writeErr)
		if got != tc.want || (err != nil) != tc.wantError {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tc.name, got, err, tc.want, tc.wantError)
		}
	}
}

type trace struct{ ran []string }

func step(name string, out Outcome, err error) Step[*trace] {
	return Step[*trace]{Name: name, Run: func(_ context.Context, p *trace) (Outcome, error) {
		p.ran = append(p.ran, name)
		return out, err
	}}
}

func TestRunStopsAtTheFirstStepThatStops(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		steps    []Step[*trace]
		wantRan  []string
		wantStep string
		want     Outcome
		wantErr  string
	}{
		{"every step continues to the last, which decides",
			[]Step[*trace]{step("a", Next(), nil), step("b", Next(), nil), step("converged", Converged(time.Minute), nil)},
			[]string{"a", "b", "converged"}, "converged", Converged(time.Minute), ""},
		{"a wait stops the pass",
			[]Step[*trace]{step("a", Next(), nil), step("nodes", WaitFor(time.Second, "NodesJoining"), nil), step("c", Next(), nil)},
			[]string{"a", "nodes"}, "nodes", WaitFor(time.Second, "NodesJoining"), ""},
		{"a config error stops the pass",
			[]Step[*trace]{step("validate", Rejected("Invalid"), nil), step("b", Next(), nil)},
			[]string{"validate"}, "validate", Rejected("Invalid"), ""},
		{"an error stops the pass and names the step",
			[]Step[*trace]{step("a", Next(), nil), step("apply", Outcome{}, boom), step("c", Next(), nil)},
			[]string{"a", "apply"}, "apply", Outcome{}, "apply: boom"},
		{"a list that only continues ends done",
			[]Step[*trace]{step("a", Next(), nil)}, []string{"a"}, "a", Converged(0), ""},
	} {
		p := &trace{}
		got, at, err := Run(context.Background(), "Test", tc.steps, p)
		if errMsg := func() string {
			if err == nil {
				return ""
			}
			return err.Error()
		}(); errMsg != tc.wantErr || (err != nil && !errors.Is(err, boom)) {
			t.Errorf("%s: error %v, want %q (wrapping the step's error)", tc.name, err, tc.wantErr)
		}
		if got != tc.want || at != tc.wantStep || len(p.ran) != len(tc.wantRan) {
			t.Errorf("%s: got %+v at %q after %v; want %+v at %q after %v", tc.name, got, at, p.ran, tc.want, tc.wantStep, tc.wantRan)
		}
	}
}

func TestRunObservesEachStepItRan(t *testing.T) {
	before := testutil.CollectAndCount(StepDuration)
	_, _, _ = Run(context.Background(), "DurationTest", []Step[*trace]{step("first", Next(), nil), step("second", WaitFor(time.Second, "x"), nil), step("never", Next(), nil)}, &trace{})
	if got := testutil.CollectAndCount(StepDuration) - before; got != 2 {
		t.Errorf("%d new step series, want 2 (first and second; never did not run)", got)
	}
}

func TestRolloutLimiter(t *testing.T) {
	l := &RolloutLimiter{Max: 2}
	if !l.TryAcquire("a") || !l.TryAcquire("b") {
		t.Fatal("two slots should be free")
	}
	if l.TryAcquire("c") {
		t.Error("a third cluster got a slot")
	}
	if !l.TryAcquire("a") {
		t.Error("a holder lost its slot")
	}
	l.Release("a")
	if !l.TryAcquire("c") {
		t.Error("a released slot was not handed on")
	}
	var none *RolloutLimiter
	if !none.TryAcquire("x") || !(&RolloutLimiter{}).TryAcquire("y") {
		t.Error("a nil or zero limiter must not limit")
	}
	none.Release("x")
}

func TestNamespaceTerminating(t *testing.T) {
	terminating := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `secrets "x" is forbidden: unable to create new content in namespace a because it is being terminated`,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Field: "a"}}},
	}}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"the refusal", terminating, true},
		{"wrapped", fmt.Errorf("applying Secret x: %w", terminating), true},
		{"joined", errors.Join(errors.New("other"), terminating), true},
		{"another Forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p", errors.New("quota")), false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := NamespaceTerminating(c.err); got != c.want {
			t.Errorf("%s: NamespaceTerminating = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestInstanceOf(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"apps.emqx.io/instance": "emqx"}}}
	if got := InstanceOf(pod); len(got) != 1 || got[0] != "emqx" {
		t.Errorf("InstanceOf(a cluster's pod) = %v, want [emqx]", got)
	}
	if got := InstanceOf(&corev1.Pod{}); got != nil {
		t.Errorf("InstanceOf(a pod of no cluster) = %v, want none", got)
	}
}
