package desired

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestKeepImmutableKeepsWhatKubernetesCannotChange: the desired StatefulSet of an adopted core
// keeps the live selector, claim templates, service name and pod management policy; its pods carry
// the selector's labels and mount the data under the live claim's name.
func TestKeepImmutableKeepsWhatKubernetesCannotChange(t *testing.T) {
	sel := map[string]string{"apps.emqx.io/instance": "vend", "apps.emqx.io/pod-template-hash": "6f8d9c7b5"}
	live := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "vend-core-6f8d9c7b5"}, Spec: appsv1.StatefulSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: sel}, ServiceName: "vend-headless", PodManagementPolicy: appsv1.OrderedReadyPodManagement,
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "vend-core-data"}}},
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx",
			VolumeMounts: []corev1.VolumeMount{{Name: "vend-core-data", MountPath: "/opt/emqx/data"}}}}}}}}
	want := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "vend-core-6f8d9c7b5"}, Spec: appsv1.StatefulSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"apps.emqx.io/instance": "vend"}}, ServiceName: "x",
		PodManagementPolicy:  appsv1.ParallelPodManagement,
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "emqx-data"}}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"apps.emqx.io/instance": "vend"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", VolumeMounts: []corev1.VolumeMount{
				{Name: "emqx-data", MountPath: "/opt/emqx/data"}, {Name: "license", MountPath: "/opt/emqx/etc/license"}}}}}}}}
	other := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "vend-replicant"}, Spec: appsv1.StatefulSetSpec{ServiceName: "x"}}
	KeepImmutable([]client.Object{want, other}, live)
	s := want.Spec
	if s.Selector.MatchLabels["apps.emqx.io/pod-template-hash"] != "6f8d9c7b5" || s.ServiceName != "vend-headless" ||
		s.PodManagementPolicy != appsv1.OrderedReadyPodManagement || len(s.VolumeClaimTemplates) != 1 || s.VolumeClaimTemplates[0].Name != "vend-core-data" {
		t.Errorf("spec %+v", s)
	}
	if s.Template.Labels["apps.emqx.io/pod-template-hash"] != "6f8d9c7b5" {
		t.Errorf("template labels %v do not match the selector", s.Template.Labels)
	}
	if m := s.Template.Spec.Containers[0].VolumeMounts; m[0].Name != "vend-core-data" || m[1].Name != "license" {
		t.Errorf("mounts %+v", m)
	}
	if other.Spec.ServiceName != "x" {
		t.Error("another StatefulSet was changed")
	}
}
