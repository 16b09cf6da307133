package olm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/operator-framework/operator-lib/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recorder is an operator-lib Condition that records what is set.
type recorder struct {
	set  []metav1.Condition
	fail bool
}

func (r *recorder) Get(context.Context) (*metav1.Condition, error) { return nil, errors.New("unused") }

func (r *recorder) Set(_ context.Context, status metav1.ConditionStatus, opts ...conditions.Option) error {
	if r.fail {
		return errors.New("conflict")
	}
	c := metav1.Condition{Status: status}
	for _, o := range opts {
		o(&c)
	}
	r.set = append(r.set, c)
	return nil
}

func TestUpgradeableFollowsRollouts(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	g := NewUpgradeGateFor(rec)
	steps := []struct {
		cluster, why string
		want         []metav1.ConditionStatus // writes after this step, cumulative
	}{
		{"ns/a", "", []metav1.ConditionStatus{"True"}},                          // first observation writes True
		{"ns/b", "", []metav1.ConditionStatus{"True"}},                          // nothing changed: no write
		{"ns/a", "RollingUpdate", []metav1.ConditionStatus{"True", "False"}},    // a starts rolling
		{"ns/b", "ScaleIn", []metav1.ConditionStatus{"True", "False", "False"}}, // message now names both
		{"ns/a", "", []metav1.ConditionStatus{"True", "False", "False", "False"}},
		{"ns/b", "", []metav1.ConditionStatus{"True", "False", "False", "False", "True"}},
	}
	for i, s := range steps {
		if err := g.Observe(ctx, s.cluster, s.why); err != nil {
			t.Fatal(err)
		}
		var got []metav1.ConditionStatus
		for _, c := range rec.set {
			got = append(got, c.Status)
		}
		if strings.Join(statuses(got), ",") != strings.Join(statuses(s.want), ",") {
			t.Fatalf("step %d: writes %v, want %v", i, got, s.want)
		}
	}
	if m := rec.set[2].Message; !strings.Contains(m, "ns/a (RollingUpdate)") || !strings.Contains(m, "ns/b (ScaleIn)") {
		t.Errorf("message %q does not name the rolling clusters", m)
	}
	if rec.set[1].Reason != ReasonClustersRolling || rec.set[4].Reason != ReasonNoRollout {
		t.Errorf("reasons %q %q", rec.set[1].Reason, rec.set[4].Reason)
	}
}

func TestFailedWriteIsRetried(t *testing.T) {
	rec := &recorder{fail: true}
	g := NewUpgradeGateFor(rec)
	if err := g.Observe(context.Background(), "ns/a", "RollingUpdate"); err == nil {
		t.Fatal("no error from a failed write")
	}
	rec.fail = false
	if err := g.Observe(context.Background(), "ns/a", "RollingUpdate"); err != nil || len(rec.set) != 1 || rec.set[0].Status != "False" {
		t.Errorf("not retried: %v %+v", err, rec.set)
	}
}

func TestNilGateDoesNothing(t *testing.T) {
	var g *UpgradeGate
	if err := g.Observe(context.Background(), "ns/a", "x"); err != nil {
		t.Error(err)
	}
}

func statuses(s []metav1.ConditionStatus) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}
