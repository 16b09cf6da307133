package render_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// Both StatefulSets keep as many old revisions as spec.revisionHistoryLimit says: an explicit 0
// is rendered as 0, not left to the StatefulSet's own default (10).
func TestRevisionHistoryLimitReachesTheStatefulSets(t *testing.T) {
	for _, tc := range []struct {
		set  *int32
		want int32
	}{
		{nil, v2beta1.DefaultRevisionHistoryLimit},
		{ptr.To(int32(0)), 0},
		{ptr.To(int32(7)), 7},
	} {
		e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"},
			Spec: v2beta1.EMQXSpec{Image: "emqx/emqx-enterprise:5.8.6", ReplicantTemplate: &v2beta1.ReplicantTemplate{}}}
		e.Default()
		e.Spec.RevisionHistoryLimit = tc.set // after Default: nil stays nil
		sets := 0
		for _, o := range renderWith(t, render.Overrides{}, values.FromEMQX(e, values.Inputs{ReplicantsAllowed: true})) {
			s, ok := o.(*appsv1.StatefulSet)
			if !ok {
				continue
			}
			sets++
			if got := s.Spec.RevisionHistoryLimit; ptr.Deref(got, -1) != tc.want {
				t.Errorf("revisionHistoryLimit %v: StatefulSet %s keeps %v, want %d", ptr.Deref(tc.set, -1), s.Name, ptr.Deref(got, -1), tc.want)
			}
		}
		if sets != 2 {
			t.Errorf("revisionHistoryLimit %v: %d StatefulSets rendered, want 2", ptr.Deref(tc.set, -1), sets)
		}
	}
}
