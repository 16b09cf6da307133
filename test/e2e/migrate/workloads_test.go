package migrate

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// TestVendorWorkloadsAreNeverTouched: an EMQX whose nodes run in workloads laid out the vendor's
// way (a hash-named core StatefulSet with its PVCs, the same labels as ours) is held with
// ConfigValid=False (ForeignWorkloads) by a running operator, and its pods, PVCs and Services
// stay exactly as they were.
func TestVendorWorkloadsAreNeverTouched(t *testing.T) {
	if err := env.InstallCRDs(); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	c := apiClient(t)
	ctx := context.Background()
	labels := map[string]string{v2beta1.LabelInstance: "vend", v2beta1.LabelManagedBy: v2beta1.ManagedByValue,
		v2beta1.LabelDBRole: v2beta1.RoleCore, "apps.emqx.io/pod-template-hash": "6f8d9c7b5"}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vend-core-6f8d9c7b5", Labels: labels},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), ServiceName: "vend-headless",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: "emqx/emqx-enterprise:5.8.6",
					VolumeMounts: []corev1.VolumeMount{{Name: "vend-core-data", MountPath: "/opt/emqx/data"}}}}}},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "vend-core-data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}}}
	apply(t, c, sts)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vend-listeners", Labels: labels},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "mqtt", Port: 1883}}}}
	apply(t, c, svc)

	uids := func() (map[string]types.UID, error) {
		out := map[string]types.UID{}
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		for _, p := range pods.Items {
			out["pod/"+p.Name] = p.UID
		}
		pvcs := &corev1.PersistentVolumeClaimList{}
		if err := c.List(ctx, pvcs, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		for _, p := range pvcs.Items {
			out["pvc/"+p.Name] = p.UID
		}
		return out, nil
	}
	var before map[string]types.UID
	harness.Eventually(t, 30*time.Second, "the vendor's pods and PVCs", func() error {
		var err error
		if before, err = uids(); err != nil || len(before) != 6 {
			return fmt.Errorf("%d pods and PVCs (%v)", len(before), err)
		}
		return nil
	})

	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vend"}, Spec: v2beta1.EMQXSpec{Image: "emqx/emqx-enterprise:5.8.6",
		CoreTemplate: v2beta1.CoreTemplate{Spec: v2beta1.CoreTemplateSpec{ReplicantTemplateSpec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To[int32](3)}}}}}
	apply(t, c, e)
	m, err := env.StartManager("operator-over-vendor", []string{"KUBECONFIG=" + env.Kubeconfig}, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	harness.Eventually(t, 30*time.Second, "ForeignWorkloads reported", func() error {
		got := &v2beta1.EMQX{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(e), got); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, v2beta1.ConfigValid)
		if cond == nil || cond.Reason != "ForeignWorkloads" || !strings.Contains(cond.Message, "StatefulSet vend-core-6f8d9c7b5") {
			return fmt.Errorf("ConfigValid = %+v", cond)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // a few more passes of the operator
	after, err := uids()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, after) {
		t.Errorf("pods or PVCs changed:\nbefore %v\nafter  %v", before, after)
	}
	for name, obj := range map[string]client.Object{"vend-core": &appsv1.StatefulSet{}, "vend-node-cookie": &corev1.Secret{}, "vend-headless": &corev1.Service{}} {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s was made next to the vendor's workloads (%v)", obj, name, err)
		}
	}
	live := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(svc), live); err != nil || !maps.Equal(live.Spec.Selector, labels) {
		t.Errorf("the vendor's listeners Service changed: %v %v", live.Spec.Selector, err)
	}
}
