package emqx

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/status"
)

func TestRunningRelease(t *testing.T) {
	set := func(images ...string) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{}
		for i, img := range images {
			name := "sidecar"
			if i == 0 {
				name = "emqx"
			}
			s.Spec.Template.Spec.Containers = append(s.Spec.Template.Spec.Containers, corev1.Container{Name: name, Image: img})
		}
		return s
	}
	pod := func(img string) corev1.Pod {
		return corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "log-shipper", Image: "fluent/fluent-bit:7.1.0"}, {Name: "emqx", Image: img}}}}
	}
	const spec = "emqx/emqx-enterprise:6.1.0"
	cases := []struct {
		name    string
		o       status.Observed
		from    string
		changed bool
	}{
		{"a new cluster runs nothing", status.Observed{}, "unknown", false},
		{"every node on the spec's image", status.Observed{CoreSet: set(spec), Pods: []corev1.Pod{pod(spec)}}, "6.1.0", false},
		{"a registry mirror is no change", status.Observed{CoreSet: set("mirror.local:5000/emqx/emqx-enterprise:6.1.0")}, "6.1.0", false},
		{"an image change, judged from the template", status.Observed{CoreSet: set("emqx/emqx-enterprise:5.10.1", "fluent/fluent-bit:7.1.0")}, "5.10.1", true},
		{"mid-roll, the oldest pod counts", status.Observed{CoreSet: set("emqx/emqx-enterprise:5.9.1"),
			Pods: []corev1.Pod{pod("emqx/emqx-enterprise:5.3.2"), pod("emqx/emqx-enterprise:5.9.1")}}, "5.3.2", true},
		{"a StatefulSet being replaced: its pods still run", status.Observed{Pods: []corev1.Pod{pod("emqx/emqx-enterprise:5.10.1")}}, "5.10.1", true},
		{"the versions EMQX reports count", status.Observed{CoreSet: set("emqx/emqx-enterprise:latest"),
			Nodes: []emqxapi.Node{{Version: "5.10.1"}}}, "5.10.1", true},
		{"a digest change is a change", status.Observed{CoreSet: set("emqx/emqx-enterprise:6.1.0@sha256:aaaa")}, "6.1.0", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from, changed := runningRelease(&c.o, spec)
			if from.String() != c.from || changed != c.changed {
				t.Errorf("from %s changed %v, want %s %v", from, changed, c.from, c.changed)
			}
		})
	}
}
