package emqx4

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers"
	"github.com/broker-ops/emqx-operator/controllers/internal/testenv"
)

// reconciles is controller-runtime's reconcile counter of one controller, all results together.
func reconciles(t testing.TB, controller string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// TestOnlyItsOwnPodsWakeTheController: every cluster kind labels its pods alike, yet the changes
// of an EMQX cluster's pods do not wake the EmqxEnterprise controller (they used to: ~1,950 no-op
// reconciles per v1beta2 kind while 100 EMQX clusters came up); a pod of an EmqxEnterprise does.
func TestOnlyItsOwnPodsWakeTheController(t *testing.T) {
	ns := newNamespace(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := ctrl.NewManager(testenv.Cfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions([]string{ns}), Client: controllers.ClientOptions(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := newEmqx4Reconciler() // EmqxEnterprise
	r.Client = mgr.GetClient()
	if err := r.SetupWithManager(mgr, 1); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}

	ours := map[string]string{v2beta1.LabelManagedBy: v2beta1.ManagedByValue}
	workload := func(name, ownerAPI, ownerKind, owner string) {
		s := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: ours, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: ownerAPI, Kind: ownerKind, Name: owner, UID: types.UID(owner + "-uid"), Controller: ptr.To(true)}}},
			Spec: appsv1.StatefulSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{v2beta1.LabelInstance: owner}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v2beta1.LabelInstance: owner}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: "emqx"}}},
				},
			},
		}
		create(t, s)
		// In this manager's cache, not only the suite's: a pod whose workload its cache does not
		// show yet is handed over to the controller, by design.
		eventually(t, 5*time.Second, func() error {
			return mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(s), &appsv1.StatefulSet{})
		})
	}
	pod := func(name, instance, set string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
				Labels: map[string]string{v2beta1.LabelManagedBy: v2beta1.ManagedByValue, v2beta1.LabelInstance: instance},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: set,
					UID: types.UID(set + "-uid"), Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: "emqx"}}},
		}
		create(t, p)
		return p
	}
	workload("a-core", "apps.emqx.io/v2beta1", "EMQX", "a")

	before := reconciles(t, "EmqxEnterprise")
	for i := 0; i < 3; i++ {
		p := pod(fmt.Sprintf("a-core-%d", i), "a", "a-core")
		for j := 0; j < 3; j++ {
			patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"churn":"%d"}}}`, j))
			if err := directAPI.Patch(context.Background(), p, client.RawPatch(types.MergePatchType, patch)); err != nil {
				t.Fatal(err)
			}
		}
		waitForCache(t, p)
	}
	// The cache has delivered every EMQX pod event by now; the handler runs as it delivers them.
	time.Sleep(300 * time.Millisecond)
	if n := reconciles(t, "EmqxEnterprise") - before; n != 0 {
		t.Fatalf("an EMQX cluster's pods woke the EmqxEnterprise controller %v times, want 0", n)
	}

	// An EmqxEnterprise's StatefulSet wakes its controller (Owns); once that has settled, its pod does too.
	workload("b", "apps.emqx.io/v1beta2", "EmqxEnterprise", "b")
	eventually(t, 10*time.Second, func() error {
		if n := reconciles(t, "EmqxEnterprise") - before; n < 1 {
			return fmt.Errorf("an EmqxEnterprise StatefulSet did not wake its controller")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	before = reconciles(t, "EmqxEnterprise")
	pod("b-0", "b", "b")
	eventually(t, 10*time.Second, func() error {
		if n := reconciles(t, "EmqxEnterprise") - before; n < 1 {
			return fmt.Errorf("an EmqxEnterprise pod did not wake its controller")
		}
		return nil
	})
}
