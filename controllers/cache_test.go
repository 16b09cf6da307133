package controllers_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/controllers"
)

// The cache keeps no managedFields: a fleet's memory grows with what the operator reads.
func TestCacheDropsManagedFields(t *testing.T) {
	opts := controllers.CacheOptions(nil)
	if opts.DefaultTransform == nil {
		t.Fatal("no default transform: cached objects keep their managedFields")
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "c-core-0", Labels: map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "emqx-operator", Operation: metav1.ManagedFieldsOperationApply}}}}
	out, err := opts.DefaultTransform(pod)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if len(got.ManagedFields) != 0 || got.Name != "c-core-0" || got.Labels["a"] != "b" {
		t.Errorf("transformed pod: %+v", got.ObjectMeta)
	}
}
