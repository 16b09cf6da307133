package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// NewNamespace creates a namespace for one test and deletes it when the test ends.
func (e *Env) NewNamespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), time.Now().UnixNano()%100000)
	ctx, cancel := Ctx()
	defer cancel()
	if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs: %s", e.LogDir())
			return // keep the namespace for a look
		}
		ctx, cancel := Ctx()
		defer cancel()
		_ = e.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
	return name
}

// Eventually polls fn until it returns nil, failing the test after timeout with fn's last error.
func Eventually(t testing.TB, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %s: %v", what, timeout, err)
}

// GetEMQX reads a cluster.
func (e *Env) GetEMQX(t testing.TB, ns, name string) *v2beta1.EMQX {
	t.Helper()
	ctx, cancel := Ctx()
	defer cancel()
	out := &v2beta1.EMQX{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// WaitForCondition waits until the cluster's condition has the status, for its current generation.
func (e *Env) WaitForCondition(t testing.TB, ns, name, condType string, status metav1.ConditionStatus, timeout time.Duration) *v2beta1.EMQX {
	t.Helper()
	var got *v2beta1.EMQX
	Eventually(t, timeout, fmt.Sprintf("%s/%s %s=%s", ns, name, condType, status), func() error {
		ctx, cancel := Ctx()
		defer cancel()
		got = &v2beta1.EMQX{}
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, condType)
		if c == nil || c.Status != status || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("conditions %s", summary(got.Status.Conditions))
		}
		return nil
	})
	return got
}

func summary(cs []metav1.Condition) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(parts, "; ")
}

// Events lists the Events about objects in a namespace, oldest first.
func (e *Env) Events(t testing.TB, ns string) []eventsv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list := &eventsv1.EventList{}
	if err := e.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// SmallEMQX is a 1 core + 1 replicant cluster of ns/name: what a test needs to see an operator
// bring a cluster to Ready.
func SmallEMQX(ns, name string) *v2beta1.EMQX {
	return &v2beta1.EMQX{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.EMQXSpec{
			Image: "emqx/emqx-enterprise:5.8.6",
			CoreTemplate: v2beta1.CoreTemplate{Spec: v2beta1.CoreTemplateSpec{
				ReplicantTemplateSpec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To[int32](1)},
				VolumeClaimTemplates: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
			ReplicantTemplate: &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To[int32](1)}},
		},
	}
}
