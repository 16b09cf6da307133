package pipeline

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v2beta1.AddToScheme(s))
	return s
}

func controlledBy(apiVersion, kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("u-" + name), Controller: &yes}}
}

// TestPodsOfWakesOnlyTheOwnersController: a pod wakes the controller of the kind that owns its
// workload, and no other cluster kind's controller.
func TestPodsOfWakesOnlyTheOwnersController(t *testing.T) {
	ns := "fleet"
	emqxSet := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a-core", OwnerReferences: controlledBy("apps.emqx.io/v2beta1", "EMQX", "a")}}
	eeSet := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b", OwnerReferences: controlledBy("apps.emqx.io/v1beta2", "EmqxEnterprise", "b")}}
	vendorRS := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a-repl-abc", OwnerReferences: controlledBy("apps.emqx.io/v2beta1", "EMQX", "a")}}
	c := fake.NewClientBuilder().WithScheme(testScheme()).WithObjects(emqxSet, eeSet, vendorRS).Build()
	pod := func(instance, ownerKind, owner string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: owner + "-0", Labels: map[string]string{v2beta1.LabelInstance: instance}}}
		if ownerKind != "" {
			p.OwnerReferences = controlledBy("apps/v1", ownerKind, owner)
		}
		return p
	}
	emqx := schema.GroupKind{Group: "apps.emqx.io", Kind: "EMQX"}
	ee := schema.GroupKind{Group: "apps.emqx.io", Kind: "EmqxEnterprise"}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		for_ schema.GroupKind
		want bool
	}{
		{"an EMQX pod wakes the EMQX controller", pod("a", "StatefulSet", "a-core"), emqx, true},
		{"an EMQX pod does not wake the EmqxEnterprise controller", pod("a", "StatefulSet", "a-core"), ee, false},
		{"an EmqxEnterprise pod wakes its controller", pod("b", "StatefulSet", "b"), ee, true},
		{"an EmqxEnterprise pod does not wake the EMQX controller", pod("b", "StatefulSet", "b"), emqx, false},
		{"a vendor replicant pod (ReplicaSet) wakes the EMQX controller", pod("a", "ReplicaSet", "a-repl-abc"), emqx, true},
		{"a pod whose workload is not cached yet is handed over", pod("c", "StatefulSet", "c-core"), ee, true},
		{"a pod without a controller is handed over", pod("c", "", ""), emqx, true},
		{"a pod without the instance label is nobody's", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"}}, emqx, false},
	} {
		got := PodsOf(c, tc.for_)(context.Background(), tc.pod)
		if (len(got) == 1) != tc.want {
			t.Errorf("%s: requests %v", tc.name, got)
			continue
		}
		if tc.want && got[0].Name != tc.pod.Labels[v2beta1.LabelInstance] {
			t.Errorf("%s: request for %s, want the instance label's cluster", tc.name, got[0].Name)
		}
	}
}

// TestPatchStatusPolicy: no write when nothing changed, a write when the status did, a conflict is
// a short wait (not an error), and an object deleted meanwhile is nothing to report.
func TestPatchStatusPolicy(t *testing.T) {
	ctx := context.Background()
	stored := &v2beta1.EMQXBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b"}}
	c := fake.NewClientBuilder().WithScheme(testScheme()).WithObjects(stored).WithStatusSubresource(stored).Build()
	current := &v2beta1.EMQXBackup{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(stored), current); err != nil {
		t.Fatal(err)
	}

	if out, err := PatchStatus(ctx, c, current, current.DeepCopy()); err != nil || out.Stops() {
		t.Fatalf("unchanged status: %+v, %v", out, err)
	}
	updated := current.DeepCopy()
	updated.Status.Phase = v2beta1.BackupPending
	if out, err := PatchStatus(ctx, c, current, updated); err != nil || out.Stops() {
		t.Fatalf("changed status: %+v, %v", out, err)
	}
	fresh := &v2beta1.EMQXBackup{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(stored), fresh); err != nil || fresh.Status.Phase != v2beta1.BackupPending {
		t.Fatalf("status not written: %+v, %v", fresh.Status, err)
	}

	// current is now stale: its resourceVersion is older than the stored object's.
	stale := current.DeepCopy()
	stale.Status.Phase = v2beta1.BackupFailed
	out, err := PatchStatus(ctx, c, current, stale)
	if err != nil || out.Kind != Wait || out.Reason != ReasonStatusConflict || out.After != StatusConflict {
		t.Fatalf("conflict: %+v, %v; want a %s wait", out, err, StatusConflict)
	}

	if err := c.Delete(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	gone := fresh.DeepCopy()
	gone.Status.Message = "too late"
	if out, err := PatchStatus(ctx, c, fresh, gone); err != nil || out.Stops() {
		t.Fatalf("deleted object: %+v, %v", out, err)
	}
}
