package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func TestDurableSessionsNeedCorePersistence(t *testing.T) {
	withPVC := func(e *v2beta1.EMQX) {
		e.Spec.CoreTemplate.Spec.VolumeClaimTemplates.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	}
	cases := []struct {
		name   string
		setup  func(e *v2beta1.EMQX)
		refuse bool
	}{
		{"durable sessions off, no PVC", func(e *v2beta1.EMQX) {}, false},
		{"durable sessions in config.data, no PVC", func(e *v2beta1.EMQX) { e.Spec.Config.Data = "durable_sessions.enable = true" }, true},
		{"durable sessions in env, no PVC", func(e *v2beta1.EMQX) {
			e.Spec.CoreTemplate.Spec.Env = []corev1.EnvVar{{Name: "EMQX_DURABLE_SESSIONS__ENABLE", Value: "true"}}
		}, true},
		{"env turns them off over config.data", func(e *v2beta1.EMQX) {
			e.Spec.Config.Data = "durable_sessions { enable = true }"
			e.Spec.CoreTemplate.Spec.Env = []corev1.EnvVar{{Name: "EMQX_DURABLE_SESSIONS__ENABLE", Value: "false"}}
		}, false},
		{"durable sessions with a PVC", func(e *v2beta1.EMQX) { e.Spec.Config.Data = "durable_sessions.enable = true"; withPVC(e) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &v2beta1.EMQX{Spec: v2beta1.EMQXSpec{Image: "emqx/emqx-enterprise:6.1.0"}}
			c.setup(e)
			prob := DurableSessions(e)
			if (prob != nil) != c.refuse {
				t.Fatalf("problem %v, want refused %v", prob, c.refuse)
			}
			if prob != nil && (prob.Reason != ReasonDurableSessionsWithoutPersistence || !strings.Contains(prob.Message, "volumeClaimTemplates")) {
				t.Errorf("problem %+v", prob)
			}
		})
	}
}
