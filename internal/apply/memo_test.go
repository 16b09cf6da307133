package apply

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestUpToDateMemo(t *testing.T) {
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "emqx"}}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "other"}}
	gvk := corev1.SchemeGroupVersion.WithKind("Service")
	live := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "emqx-headless", ResourceVersion: "10"}}
	m := NewUpToDateMemo()
	if m.known(owner, gvk, live, "h1") {
		t.Fatal("known before anything was remembered")
	}
	m.remember(owner, gvk, live, "h1")
	if !m.known(owner, gvk, live, "h1") {
		t.Error("not known at the same resourceVersion and hash")
	}
	changed := live.DeepCopy()
	changed.ResourceVersion = "11" // written by someone since
	for name, known := range map[string]bool{
		"live written since":               m.known(owner, gvk, changed, "h1"),
		"desired changed":                  m.known(owner, gvk, live, "h2"),
		"another owner":                    m.known(other, gvk, live, "h1"),
		"another kind of the same name":    m.known(owner, corev1.SchemeGroupVersion.WithKind("Secret"), live, "h1"),
		"the object is gone (live is nil)": m.known(owner, gvk, nil, "h1"),
		"no memo (nil remembers nothing)":  (*UpToDateMemo)(nil).known(owner, gvk, live, "h1"),
	} {
		if known {
			t.Errorf("%s: known, want compared in full", name)
		}
	}
	m.Forget(types.NamespacedName{Namespace: "a", Name: "emqx"})
	if m.known(owner, gvk, live, "h1") || m.Owners() != 0 {
		t.Error("still known after Forget")
	}
	(*UpToDateMemo)(nil).remember(owner, gvk, live, "h1") // no panic
	(*UpToDateMemo)(nil).Forget(types.NamespacedName{})
}
