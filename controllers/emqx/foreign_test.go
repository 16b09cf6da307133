package emqx

import (
	"context"
	"errors"
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
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
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
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != pipeline.ReasonForeignWorkloads || !strings.Contains(c.Message, "StatefulSet vend-core-6f8d9c7b5") {
		t.Fatalf("ConfigValid = %+v", c)
	}
	for name, obj := range map[string]client.Object{e.CoreWorkloadName(): &appsv1.StatefulSet{}, e.CookieSecretName(): &corev1.Secret{},
		e.HeadlessServiceName(): &corev1.Service{}} {
		if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s was made next to the vendor's workloads (%v)", obj, name, err)
		}
	}
	waitForEvent(t, ns, pipeline.ReasonForeignWorkloads, "vend-core-6f8d9c7b5")

	if err := directAPI.Delete(context.Background(), vendor); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10e9, func() error {
		if err := mgrClient.Get(context.Background(), client.ObjectKeyFromObject(vendor), &appsv1.StatefulSet{}); err == nil {
			return errors.New("the cache still has the vendor's StatefulSet")
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
	if c == nil || c.Reason != pipeline.ReasonSecretNotOurs || !strings.Contains(c.Message, "Secret left-node-cookie exists without the key") {
		t.Fatalf("ConfigValid = %+v", c)
	}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: e.CoreWorkloadName()}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("a StatefulSet was made with a Secret its pods cannot use (%v)", err)
	}
}

// TestAdoptionRecordsTheVendorsCoreStatefulSet: with the adopt annotation, the vendor's one core
// StatefulSet is recorded as the cluster's, and the next pass applies this operator's template to
// it without changing what Kubernetes would refuse (selector, claim templates, service name); two
// vendor core StatefulSets with pods stay held.
func TestAdoptionRecordsTheVendorsCoreStatefulSet(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "vend", 3, 0)
	e.Annotations = map[string]string{v2beta1.AnnotationAdoptVendorWorkloads: "true"}
	create(t, e)
	vendor := vendorStatefulSet(ns, e.Name)
	vendor.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "vend-core-data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: mustQuantity("1Gi")}}}}}
	create(t, vendor)
	waitForCache(t, vendor)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	live := getEMQX(t, ns, e.Name)
	if live.Annotations[v2beta1.AnnotationCoreStatefulSet] != vendor.Name {
		t.Fatalf("annotations %v", live.Annotations)
	}
	waitForCache(t, live)
	reconcileOnce(t, r, ns, e.Name)
	sts := &appsv1.StatefulSet{}
	get(t, ns, vendor.Name, sts)
	if sts.Spec.Selector.MatchLabels["apps.emqx.io/pod-template-hash"] != "6f8d9c7b5" || sts.Spec.ServiceName != "vend-headless" ||
		len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "vend-core-data" {
		t.Errorf("immutable fields changed: %+v", sts.Spec)
	}
	if sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType || sts.Spec.Template.Labels["apps.emqx.io/pod-template-hash"] != "6f8d9c7b5" {
		t.Errorf("this operator's template not applied: %+v %v", sts.Spec.UpdateStrategy, sts.Spec.Template.Labels)
	}
	mounted := false
	for _, m := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == "vend-core-data" && m.MountPath == "/opt/emqx/data" {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the data claim is not mounted: %+v", sts.Spec.Template.Spec.Containers[0].VolumeMounts)
	}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "vend-core"}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("a second core StatefulSet was made (%v)", err)
	}

	ns2 := newNamespace(t, nil)
	e2 := newEMQX(ns2, "vend", 3, 0)
	e2.Annotations = map[string]string{v2beta1.AnnotationAdoptVendorWorkloads: "true"}
	create(t, e2)
	other := vendorStatefulSet(ns2, e2.Name)
	create(t, other)
	second := vendorStatefulSet(ns2, e2.Name)
	second.Name = "vend-core-7a1b2c3d4"
	create(t, second)
	waitForCache(t, second)
	reconcileOnce(t, r, ns2, e2.Name)
	c := meta.FindStatusCondition(getEMQX(t, ns2, e2.Name).Status.Conditions, v2beta1.ConfigValid)
	if c == nil || c.Reason != pipeline.ReasonForeignWorkloads || !strings.Contains(c.Message, "several core StatefulSets") {
		t.Errorf("two vendor core StatefulSets: ConfigValid %+v", c)
	}
}
