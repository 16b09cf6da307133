package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/values"
)

func newEMQX(ns, name string, cores, replicants int32) *v2beta1.EMQX {
	e := &v2beta1.EMQX{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.EMQXSpec{
			Image: "emqx/emqx-enterprise:5.8.6",
			CoreTemplate: v2beta1.CoreTemplate{Spec: v2beta1.CoreTemplateSpec{
				ReplicantTemplateSpec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(cores)},
				VolumeClaimTemplates: corev1.PersistentVolumeClaimSpec{
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: mustQuantity("1Gi")}},
				},
			}},
		},
	}
	if replicants > 0 {
		e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(replicants)}}
	}
	return e
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := directAPI.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	if _, ok := obj.(*v2beta1.EMQX); ok {
		waitForCache(t, obj)
	}
}

func get(t testing.TB, ns, name string, obj client.Object) {
	t.Helper()
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("getting %T %s: %v", obj, name, err)
	}
}

func getEMQX(t testing.TB, ns, name string) *v2beta1.EMQX {
	t.Helper()
	e := &v2beta1.EMQX{}
	get(t, ns, name, e)
	return e
}

// operatorKey reads the operator's generated API key and tells the fake EMQX to accept it,
// as a real node would after reading the bootstrap file.
func operatorKey(t testing.TB, ns, name string) {
	t.Helper()
	s := &corev1.Secret{}
	get(t, ns, name+"-operator-api-key", s)
	fakeEMQX.SetCredentials(string(s.Data[values.OperatorKeyKey]), string(s.Data[values.OperatorSecretKey]))
}

// setStatefulSetStatus writes what the StatefulSet controller would report.
func setStatefulSetStatus(t testing.TB, ns, name string, replicas, ready int32, revision string) {
	t.Helper()
	s := &appsv1.StatefulSet{}
	get(t, ns, name, s)
	s.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: s.Generation, Replicas: replicas, ReadyReplicas: ready, AvailableReplicas: ready,
		CurrentReplicas: replicas, UpdatedReplicas: replicas, CurrentRevision: revision, UpdateRevision: revision,
	}
	if err := directAPI.Status().Update(context.Background(), s); err != nil {
		t.Fatalf("StatefulSet status: %v", err)
	}
}

// createPods creates the pods of a role as the StatefulSet controller would, with pod IPs and
// Ready conditions as the kubelet would report them.
func createPods(t testing.TB, e *v2beta1.EMQX, role string, n int32, revision string) []string {
	t.Helper()
	workload := e.CoreWorkloadName()
	if role == v2beta1.RoleReplicant {
		workload = e.ReplicantWorkloadName()
	}
	var names []string
	for i := int32(0); i < n; i++ {
		labels := e.RoleSelectorLabels(role)
		labels[appsv1.ControllerRevisionHashLabelKey] = revision
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: fmt.Sprintf("%s-%d", workload, i), Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: e.Spec.Image}}},
		}
		create(t, p)
		p.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: fmt.Sprintf("127.0.%d.%d", roleOctet(role), i+1),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
		}
		if err := directAPI.Status().Update(context.Background(), p); err != nil {
			t.Fatalf("pod status: %v", err)
		}
		names = append(names, p.Name)
	}
	return names
}

func roleOctet(role string) int {
	if role == v2beta1.RoleReplicant {
		return 2
	}
	return 1
}

// runningNodes are the EMQX node entries of pods, as GET /api/v5/nodes lists running nodes.
func runningNodes(e *v2beta1.EMQX, role string, pods ...string) []emqxapi.Node {
	var out []emqxapi.Node
	for _, p := range pods {
		out = append(out, emqxapi.Node{
			Node: status.NodeName(e, p), NodeStatus: "running", Role: role, Version: "5.8.6",
			Edition: "Enterprise", OTPRelease: "26.2.5-3/14.2.5",
		})
	}
	return out
}

// waitForCache waits until the manager's cache shows an object at least as new as the API server's.
func waitForCache(t testing.TB, obj client.Object) {
	t.Helper()
	want := obj.DeepCopyObject().(client.Object)
	if err := directAPI.Get(context.Background(), client.ObjectKeyFromObject(obj), want); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		got := obj.DeepCopyObject().(client.Object)
		if err := mgrClient.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
			return err
		}
		if got.GetResourceVersion() != want.GetResourceVersion() {
			return fmt.Errorf("cache at %s, API at %s", got.GetResourceVersion(), want.GetResourceVersion())
		}
		return nil
	})
}

func waitForPodsInCache(t testing.TB, e *v2beta1.EMQX, n int) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		pods := &corev1.PodList{}
		if err := mgrClient.List(context.Background(), pods, client.InNamespace(e.Namespace), client.MatchingLabels(e.SelectorLabels())); err != nil {
			return err
		}
		ready := 0
		for i := range pods.Items {
			if status.IsPodReady(&pods.Items[i]) {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d ready pods in cache, want %d", ready, n)
		}
		return nil
	})
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
