package e2e

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

func coreReplicantCluster(ns, name string, cores, replicants int32) *v2beta1.EMQX {
	return &v2beta1.EMQX{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.EMQXSpec{
			Image: "emqx/emqx-enterprise:5.8.6",
			CoreTemplate: v2beta1.CoreTemplate{Spec: v2beta1.CoreTemplateSpec{
				ReplicantTemplateSpec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(cores)},
				VolumeClaimTemplates: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
			ReplicantTemplate: &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(replicants)}},
		},
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
}

// TestCoreReplicantClusterBecomesReady: apply a core+replicant EMQX; it becomes Ready with every
// node listed in status, all nodes in one EMQX cluster, and the operator reaches nodes only by pod IP.
func TestCoreReplicantClusterBecomesReady(t *testing.T) {
	ns := env.NewNamespace(t)
	start := time.Now()
	create(t, coreReplicantCluster(ns, "emqx", 2, 2))
	got := env.WaitForCondition(t, ns, "emqx", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	t.Logf("Ready in %s", time.Since(start).Round(time.Millisecond))

	if len(got.Status.CoreNodes) != 2 || len(got.Status.ReplicantNodes) != 2 {
		t.Fatalf("status nodes: %d cores, %d replicants", len(got.Status.CoreNodes), len(got.Status.ReplicantNodes))
	}
	for _, n := range append(got.Status.CoreNodes, got.Status.ReplicantNodes...) {
		if n.NodeStatus != "running" || n.PodUID == "" || n.Version != "5.8.6" {
			t.Errorf("node %+v", n)
		}
	}
	nodes, err := env.Sim.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	clusters := map[int]int{}
	for _, n := range nodes {
		if strings.HasPrefix(n.Pod, ns+"/") {
			clusters[n.Cluster]++
		}
	}
	if len(clusters) != 1 {
		t.Errorf("simulated nodes are in %d EMQX clusters, want 1: %v", len(clusters), clusters)
	}

	// Every call the operator made arrived at a pod IP it was addressed to, never through a Service.
	pods := &corev1.PodList{}
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	podIPs := map[string]bool{}
	for _, p := range pods.Items {
		podIPs[p.Status.PodIP] = true
	}
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range calls {
		host, port, _ := net.SplitHostPort(c.Local)
		if !podIPs[host] || !strings.Contains(c.Node, "."+ns+".") {
			continue // another test's namespace (pod IPs are reused once a pod is gone)
		}
		seen++
		if port != "18083" {
			t.Errorf("call %s %s arrived on port %s", c.Method, c.Path, port)
		}
	}
	if seen == 0 {
		t.Errorf("no API call reached this cluster's pods")
	}
}

// TestOperatorRestartRecreatesNothing: the operator killed and started again finds the cluster
// Ready and changes nothing: same object UIDs, no Created events after the restart.
func TestOperatorRestartRecreatesNothing(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, coreReplicantCluster(ns, "restart", 1, 1))
	env.WaitForCondition(t, ns, "restart", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	before := ownedUIDs(t, ns)

	env.KillOperator()
	killedAt := metav1.NowMicro()
	if err := env.StartOperator(); err != nil {
		t.Fatal(err)
	}
	// The restarted operator reconciles (its status resync proves it ran) and stays Ready.
	harness.Eventually(t, 60*time.Second, "a reconcile by the new operator process", func() error {
		if !strings.Contains(lastStart(env.OperatorLog()), ns+"/restart") && !strings.Contains(lastStart(env.OperatorLog()), `"restart"`) {
			return fmt.Errorf("the restarted operator has not reconciled %s/restart yet", ns)
		}
		return nil
	})
	env.WaitForCondition(t, ns, "restart", v2beta1.Ready, metav1.ConditionTrue, 30*time.Second)
	after := ownedUIDs(t, ns)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("objects recreated by the restart:\nbefore %v\nafter  %v", before, after)
	}
	for _, ev := range env.Events(t, ns) {
		if ev.Reason == "Created" && ev.EventTime.After(killedAt.Time) {
			t.Errorf("after the restart: %s %s", ev.Reason, ev.Note)
		}
	}
}

// lastStart is the log since the operator's most recent start.
func lastStart(log string) string {
	if i := strings.LastIndex(log, "=== operator started"); i >= 0 {
		return log[i:]
	}
	return log
}

// TestDeleteRemovesOwnedObjectsAndKeepsPVCs: deleting the cluster lets the garbage collector
// remove everything it owns, while the core PVCs stay (retention policy Retain).
func TestDeleteRemovesOwnedObjectsAndKeepsPVCs(t *testing.T) {
	ns := env.NewNamespace(t)
	e := coreReplicantCluster(ns, "gone", 2, 1)
	create(t, e)
	env.WaitForCondition(t, ns, "gone", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	pvcsBefore := pvcUIDs(t, ns)
	if len(pvcsBefore) != 2 {
		t.Fatalf("%d PVCs before deletion, want 2", len(pvcsBefore))
	}

	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Delete(ctx, e); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 90*time.Second, "owned objects garbage-collected", func() error {
		if left := ownedUIDs(t, ns); len(left) > 0 {
			return fmt.Errorf("still there: %v", left)
		}
		return nil
	})
	if after := pvcUIDs(t, ns); fmt.Sprint(after) != fmt.Sprint(pvcsBefore) {
		t.Errorf("PVCs changed by the deletion: before %v after %v", pvcsBefore, after)
	}
}

// ownedUIDs lists the operator-made objects of a namespace as "Kind/name=uid", sorted.
func ownedUIDs(t *testing.T, ns string) []string {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	var out []string
	add := func(kind string, items []metav1.Object) {
		for _, o := range items {
			if o.GetLabels()[v2beta1.LabelManagedBy] == v2beta1.ManagedByValue {
				out = append(out, fmt.Sprintf("%s/%s=%s", kind, o.GetName(), o.GetUID()))
			}
		}
	}
	lists := map[string]client.ObjectList{
		"StatefulSet": &appsv1.StatefulSetList{}, "Service": &corev1.ServiceList{}, "ConfigMap": &corev1.ConfigMapList{},
		"Secret": &corev1.SecretList{}, "ServiceAccount": &corev1.ServiceAccountList{}, "PodDisruptionBudget": &policyv1.PodDisruptionBudgetList{},
	}
	for kind, list := range lists {
		if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		add(kind, metaItems(list))
	}
	sort.Strings(out)
	return out
}

func pvcUIDs(t *testing.T, ns string) []string {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	list := &corev1.PersistentVolumeClaimList{}
	if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name+"="+string(p.UID))
	}
	sort.Strings(out)
	return out
}
