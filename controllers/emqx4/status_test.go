package emqx4

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// TestUpgradingComparesWithTheMirroredImage: behind watches.yaml's imageRegistry mirror, pods run
// the mirrored image; a rolling update that does not change it is not an upgrade.
func TestUpgradingComparesWithTheMirroredImage(t *testing.T) {
	c := newEnterprise("ns", "mirror")
	mirrored := render.RewriteImage(c.Spec.Image, "mirror.example.internal:5000")
	podsRunning := func(image string) []corev1.Pod {
		return []corev1.Pod{{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: image}}}}}
	}
	for _, tc := range []struct {
		name      string
		pods      string
		upgrading bool
	}{
		{"pods on the mirrored image: a restart, not an upgrade", mirrored, false},
		{"pods on another image: an upgrade", "mirror.example.internal:5000/emqx/emqx-ee:4.4.0", true},
	} {
		p := &pass4{c: c, image: mirrored, pods: podsRunning(tc.pods), applied: true, plan: lifecycle.Plan{Reason: "RollingUpdate"}}
		p.spec, p.listener = v1beta2.Defaulted(c)
		st := status.ComputeEmqx4(c, p.observed())
		if got := meta.IsStatusConditionTrue(st.Conditions, v1beta2.ConditionUpgrading); got != tc.upgrading {
			t.Errorf("%s: Upgrading = %v, want %v (%+v)", tc.name, got, tc.upgrading, meta.FindStatusCondition(st.Conditions, v1beta2.ConditionUpgrading))
		}
	}
}
