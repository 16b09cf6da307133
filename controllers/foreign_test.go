package controllers

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// vendorStatefulSet is a core StatefulSet laid out as the vendor's emqx-operator makes it: a hashed
// name and the same instance and managed-by labels as ours.
func vendorStatefulSet(ns, cluster string) *appsv1.StatefulSet {
	labels := map[string]string{v2beta1.LabelInstance: cluster, v2beta1.LabelManagedBy: v2beta1.ManagedByValue,
		v2beta1.LabelDBRole: v2beta1.RoleCore, "apps.emqx.io/pod-template-hash": "6f8d9c7b5"}
	return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cluster + "-core-6f8d9c7b5", Labels: labels},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), ServiceName: cluster + "-headless",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: "emqx/emqx-enterprise:5.8.6"}}}}}}
}

// TestForeignWorkloadsStopTheCluster: a cluster whose nodes run in the vendor's workloads gets
// ConfigValid=False (ForeignWorkloads) naming them, and the operator makes nothing at all (no
// Secret, Service or StatefulSet) until they are gone.
func TestForeignWorkloadsStopTheCluster(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "vend", 3, 0)
	create(t, e)
	vendor := vendorStatefulSet(ns, e.Name)
	create(t, vendor)
	waitForCache(t, vendor)
	waitForCache(t, e)
	r, _ := newReconciler()
	if res := reconcileOnce(t, r, ns, e.Name); res.RequeueAfter == 0 {
		t.Error("not looked at again")
	}
	live := getEMQX(t, ns, e.Name)
	c := meta.FindStatusCondition(live.Status.Conditions, v2beta1.ConfigValid)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reasonForeignWorkloads || !strings.Contains(c.Message, "StatefulSet vend-core-6f8d9c7b5") {
		t.Fatalf("ConfigValid = %+v", c)
	}
	for name, obj := range map[string]client.Object{e.CoreWorkloadName(): &appsv1.StatefulSet{}, e.CookieSecretName(): &corev1.Secret{},
		e.HeadlessServiceName(): &corev1.Service{}} {
		if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s was made next to the vendor's workloads (%v)", obj, name, err)
		}
	}
	waitForEvent(t, ns, reasonForeignWorkloads, "vend-core-6f8d9c7b5")

	if err := directAPI.Delete(context.Background(), vendor); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10e9, func() error {
		if err := mgrClient.Get(context.Background(), client.ObjectKeyFromObject(vendor), &appsv1.StatefulSet{}); err == nil {
			return errString("the cache still has the vendor's StatefulSet")
		}
		return nil
	})
	reconcileOnce(t, r, ns, e.Name)
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: e.CoreWorkloadName()}, &appsv1.StatefulSet{}); err != nil {
		t.Errorf("with the vendor's workloads gone the cluster is still held: %v", err)
	}
}

// TestForeignSecretIsNotMounted: a Secret with the name of one the operator generates, but not its
// keys (the vendor's node cookie Secret), stops the cluster with SecretNotOurs instead of pods
// that could not start.
func TestForeignSecretIsNotMounted(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "left", 1, 0)
	create(t, e)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: e.CookieSecretName()},
		StringData: map[string]string{"node_cookie": "vendor-cookie"}})
	waitForCache(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	c := meta.FindStatusCondition(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.ConfigValid)
	if c == nil || c.Reason != reasonSecretNotOurs || !strings.Contains(c.Message, "Secret left-node-cookie exists without the key") {
		t.Fatalf("ConfigValid = %+v", c)
	}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: e.CoreWorkloadName()}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("a StatefulSet was made with a Secret its pods cannot use (%v)", err)
	}
}
