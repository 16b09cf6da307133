package emqx

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// convergeCores takes a new cluster to "cores ready": the StatefulSet created by the operator,
// its pods created and ready (as the controller-manager and kubelet would), and EMQX reporting
// every core running.
func convergeCores(t testing.TB, r *EMQXReconciler, e *v2beta1.EMQX) []string {
	t.Helper()
	reconcileOnce(t, r, e.Namespace, e.Name)
	operatorKey(t, e.Namespace, e.Name)
	n := e.CoreReplicas()
	setStatefulSetStatus(t, e.Namespace, e.CoreWorkloadName(), n, n, "rev1")
	pods := createPods(t, e, v2beta1.RoleCore, n, "rev1")
	fakeEMQX.SetNodes(runningNodes(e, v2beta1.RoleCore, pods...)...)
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(e.Namespace, e.CoreWorkloadName())})
	waitForPodsInCache(t, e, int(n))
	return pods
}

func TestCreatesEveryObjectOwnedByTheCluster(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "emqx", 2, 2)
	create(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, "emqx")

	owned := []client.Object{
		&corev1.ConfigMap{}, &corev1.Service{}, &corev1.Service{}, &corev1.Service{}, &corev1.ServiceAccount{},
		&appsv1.StatefulSet{}, &policyv1.PodDisruptionBudget{},
		&corev1.Secret{}, &corev1.Secret{}, &corev1.Secret{}, &corev1.Secret{},
	}
	names := []string{"emqx-configs", "emqx-headless", "emqx-dashboard", "emqx-listeners", "emqx",
		"emqx-core", "emqx-core",
		"emqx-node-cookie", "emqx-dashboard-credentials", "emqx-operator-api-key", "emqx-bootstrap-api-keys"}
	live := getEMQX(t, ns, "emqx")
	for i, obj := range owned {
		get(t, ns, names[i], obj)
		refs := obj.GetOwnerReferences()
		if len(refs) != 1 || refs[0].UID != live.UID || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%T %s: owner references %+v, want the EMQX as controller", obj, names[i], refs)
		}
	}

	sts := &appsv1.StatefulSet{}
	get(t, ns, "emqx-core", sts)
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p == nil ||
		p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("PVC retention = %+v, want Retain on delete and scale-in", p)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		t.Errorf("core StatefulSet: %d claim templates, strategy %s", len(sts.Spec.VolumeClaimTemplates), sts.Spec.UpdateStrategy.Type)
	}
	// Replicants wait for the cores.
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "emqx-replicant"}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("replicant StatefulSet exists before any core is ready (err=%v)", err)
	}
	headless := &corev1.Service{}
	get(t, ns, "emqx-headless", headless)
	if !headless.Spec.PublishNotReadyAddresses || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("headless Service: publishNotReadyAddresses=%v clusterIP=%s", headless.Spec.PublishNotReadyAddresses, headless.Spec.ClusterIP)
	}
	cond := meta.FindStatusCondition(getEMQX(t, ns, "emqx").Status.Conditions, v2beta1.Ready)
	if cond == nil || cond.Status != "False" {
		t.Errorf("Ready = %+v, want False", cond)
	}
	waitForEvent(t, ns, "Created", "StatefulSet emqx-core created")
}

func TestSecondReconcileMakesZeroWrites(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "steady", 2, 1)
	create(t, e)
	r, c := newReconciler()
	convergeCores(t, r, e)
	reconcileOnce(t, r, ns, e.Name) // creates the replicant StatefulSet
	setStatefulSetStatus(t, ns, e.ReplicantWorkloadName(), 1, 1, "rev1")
	repl := createPods(t, e, v2beta1.RoleReplicant, 1, "rev1")
	cores := []string{e.CoreWorkloadName() + "-0", e.CoreWorkloadName() + "-1"}
	fakeEMQX.SetNodes(append(runningNodes(e, v2beta1.RoleCore, cores...), runningNodes(e, v2beta1.RoleReplicant, repl...)...)...)
	waitForPodsInCache(t, e, 3)
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, e.ReplicantWorkloadName())})
	reconcileOnce(t, r, ns, e.Name) // writes status Ready
	waitForCache(t, &v2beta1.EMQX{ObjectMeta: metaOf(ns, e.Name)})
	if !meta.IsStatusConditionTrue(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.Ready) {
		t.Fatalf("cluster not Ready: %+v", getEMQX(t, ns, e.Name).Status.Conditions)
	}

	c.Reset()
	res := reconcileOnce(t, r, ns, e.Name)
	if w := c.Writes.Load(); w != 0 {
		t.Errorf("a reconcile with nothing to change made %d writes, want 0", w)
	}
	if u := c.UncachedReads.Load(); u != 0 {
		t.Errorf("a reconcile with nothing to change made %d uncached reads, want 0", u)
	}
	if res.RequeueAfter != pipeline.DefaultReadyResync {
		t.Errorf("a Ready cluster requeues after %s, want the %s resync", res.RequeueAfter, pipeline.DefaultReadyResync)
	}
}

func TestFieldChangeUpdatesOnlyWhatItShould(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "change", 1, 0)
	create(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	names := map[string]client.Object{
		"change-configs": &corev1.ConfigMap{}, "change-headless": &corev1.Service{}, "change-dashboard": &corev1.Service{},
		"change-listeners": &corev1.Service{}, "change-core": &appsv1.StatefulSet{}, "change-bootstrap-api-keys": &corev1.Secret{},
	}
	versions := func() map[string]string {
		out := map[string]string{}
		for n, o := range names {
			get(t, ns, n, o)
			out[n] = o.GetResourceVersion()
		}
		return out
	}
	before := versions()
	for _, o := range names {
		waitForCache(t, o)
	}

	live := getEMQX(t, ns, e.Name)
	live.Spec.ListenersServiceTemplate = &v2beta1.ServiceTemplate{}
	live.Spec.ListenersServiceTemplate.ObjectMeta.Annotations = map[string]string{"example.com/lb": "internal"}
	if err := directAPI.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, &v2beta1.EMQX{ObjectMeta: metaOf(ns, e.Name)})
	reconcileOnce(t, r, ns, e.Name)
	after := versions()
	for n := range names {
		changed := before[n] != after[n]
		if changed != (n == "change-listeners") {
			t.Errorf("%s changed=%v after a listeners annotation change", n, changed)
		}
	}
	svc := &corev1.Service{}
	get(t, ns, "change-listeners", svc)
	if svc.Annotations["example.com/lb"] != "internal" {
		t.Errorf("listeners Service annotations = %v", svc.Annotations)
	}

	for _, o := range names {
		waitForCache(t, o)
	}
	live = getEMQX(t, ns, e.Name)
	live.Spec.CoreTemplate.Spec.Env = []corev1.EnvVar{{Name: "EMQX_LOG__CONSOLE__LEVEL", Value: "debug"}}
	if err := directAPI.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	waitForCache(t, &v2beta1.EMQX{ObjectMeta: metaOf(ns, e.Name)})
	reconcileOnce(t, r, ns, e.Name)
	final := versions()
	for n := range names {
		changed := after[n] != final[n]
		if changed != (n == "change-core") {
			t.Errorf("%s changed=%v after a core env change", n, changed)
		}
	}
	sts := &appsv1.StatefulSet{}
	get(t, ns, "change-core", sts)
	if !hasEnv(sts.Spec.Template.Spec.Containers[0].Env, "EMQX_LOG__CONSOLE__LEVEL", "debug") {
		t.Errorf("core StatefulSet env lacks the new variable")
	}
}

func TestReadyOnlyWhenEMQXReportsEveryNodeRunning(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "ready", 2, 2)
	create(t, e)
	r, _ := newReconciler()
	reconcileOnce(t, r, ns, e.Name)
	operatorKey(t, ns, e.Name)
	setStatefulSetStatus(t, ns, e.CoreWorkloadName(), 2, 2, "rev1")
	cores := createPods(t, e, v2beta1.RoleCore, 2, "rev1")
	waitForPodsInCache(t, e, 2)
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, e.CoreWorkloadName())})

	// Both pods Ready in Kubernetes, but EMQX says only one core has joined.
	fakeEMQX.SetNodes(runningNodes(e, v2beta1.RoleCore, cores[0])...)
	reconcileOnce(t, r, ns, e.Name)
	st := getEMQX(t, ns, e.Name).Status
	if meta.IsStatusConditionTrue(st.Conditions, v2beta1.CoreNodesReady) || meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) {
		t.Errorf("cores/Ready true with one of two cores joined: %+v", st.Conditions)
	}
	if err := directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: e.ReplicantWorkloadName()}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("replicants started before every core joined (err=%v)", err)
	}

	// Every core joined: replicants start, the cluster is still not Ready.
	fakeEMQX.SetNodes(runningNodes(e, v2beta1.RoleCore, cores...)...)
	reconcileOnce(t, r, ns, e.Name)
	get(t, ns, e.ReplicantWorkloadName(), &appsv1.StatefulSet{})
	st = getEMQX(t, ns, e.Name).Status
	if !meta.IsStatusConditionTrue(st.Conditions, v2beta1.CoreNodesReady) || meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) {
		t.Errorf("want CoreNodesReady and not Ready: %+v", st.Conditions)
	}

	// Replicant pods ready but not yet in EMQX's list: not Ready.
	setStatefulSetStatus(t, ns, e.ReplicantWorkloadName(), 2, 2, "rev1")
	repl := createPods(t, e, v2beta1.RoleReplicant, 2, "rev1")
	waitForPodsInCache(t, e, 4)
	waitForCache(t, &appsv1.StatefulSet{ObjectMeta: metaOf(ns, e.ReplicantWorkloadName())})
	reconcileOnce(t, r, ns, e.Name)
	if meta.IsStatusConditionTrue(getEMQX(t, ns, e.Name).Status.Conditions, v2beta1.Ready) {
		t.Errorf("Ready with replicants not joined")
	}

	fakeEMQX.SetNodes(append(runningNodes(e, v2beta1.RoleCore, cores...), runningNodes(e, v2beta1.RoleReplicant, repl...)...)...)
	reconcileOnce(t, r, ns, e.Name)
	got := getEMQX(t, ns, e.Name)
	st = got.Status
	if !meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) {
		t.Fatalf("not Ready with every node running: %+v", st.Conditions)
	}
	if st.Conditions[len(st.Conditions)-1].Type != v2beta1.Ready {
		t.Errorf("Ready is not the last condition: %v", conditionTypes(st.Conditions))
	}
	if len(st.CoreNodes) != 2 || len(st.ReplicantNodes) != 2 || st.CoreNodes[0].PodUID == "" || st.CoreNodes[0].ControllerUID == "" {
		t.Errorf("status nodes: core=%+v replicant=%+v", st.CoreNodes, st.ReplicantNodes)
	}
	if st.ObservedGeneration != got.Generation || st.Phase != "Ready" || st.ReadyNodes != "4/4" || st.EMQXVersion != "5.8.6" {
		t.Errorf("observedGeneration=%d (gen %d) phase=%s readyNodes=%s version=%s", st.ObservedGeneration, got.Generation, st.Phase, st.ReadyNodes, st.EMQXVersion)
	}
	if st.ReplicantNodesSelector == "" || st.ReplicantNodesStatus.Replicas != 2 {
		t.Errorf("scale subresource fields: selector=%q replicas=%d", st.ReplicantNodesSelector, st.ReplicantNodesStatus.Replicas)
	}
	for _, h := range askedHosts.All() {
		if !strings.HasPrefix(h, "http://127.0.1.") || !strings.HasSuffix(h, ":18083") {
			t.Errorf("operator asked %s: want a core pod IP on the dashboard port", h)
		}
	}
}

func TestStatusFailsOverWhenACoreDoesNotAnswer(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "failover", 2, 0)
	create(t, e)
	r, _ := newReconciler()
	cores := convergeCores(t, r, e)
	// The first core's address answers nothing; the second is the fake.
	r.EMQXClients = func(baseURL string, creds emqxClientCreds) *emqxClient {
		if strings.HasPrefix(baseURL, "http://127.0.1.1:") {
			return newEMQXClient("http://127.0.0.1:1", creds)
		}
		return newEMQXClient(fakeEMQX.URL, creds)
	}
	reconcileOnce(t, r, ns, e.Name)
	st := getEMQX(t, ns, e.Name).Status
	if !meta.IsStatusConditionTrue(st.Conditions, v2beta1.Ready) || len(st.CoreNodes) != len(cores) {
		t.Errorf("status did not fail over to the answering core: %+v", st.Conditions)
	}
}

func TestScaleSubresourceScalesReplicants(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "scaled", 1, 2)
	create(t, e)
	scale := &autoscalingScale{}
	if err := directAPI.SubResource("scale").Get(context.Background(), e, scale); err != nil {
		t.Fatalf("reading the scale subresource: %v", err)
	}
	if scale.Spec.Replicas != 2 {
		t.Errorf("scale.spec.replicas = %d, want 2", scale.Spec.Replicas)
	}
	scale.Spec.Replicas = 5
	if err := directAPI.SubResource("scale").Update(context.Background(), e, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("writing the scale subresource: %v", err)
	}
	if got := getEMQX(t, ns, e.Name).ReplicantReplicas(); got != 5 {
		t.Errorf("replicantTemplate.spec.replicas = %d after scaling to 5", got)
	}
}

func hasEnv(env []corev1.EnvVar, name, value string) bool {
	for _, e := range env {
		if e.Name == name && e.Value == value {
			return true
		}
	}
	return false
}

func conditionTypes(cs []metaCondition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Type)
	}
	return out
}

// A core whose pod is Ready but whose node EMQX does not list yet is looked at again within a
// second (no watch reports a join); a cluster whose pods are still starting waits for their
// events, with the converging period as the fallback.
func TestReadyNodeNotJoinedIsLookedAtSoon(t *testing.T) {
	ns := newNamespace(t, nil)
	e := newEMQX(ns, "joining", 2, 0)
	e.Spec.ReplicantTemplate = nil
	create(t, e)
	r, _ := newReconciler()
	pods := convergeCores(t, r, e)
	fakeEMQX.SetNodes(runningNodes(e, v2beta1.RoleCore, pods[0])...) // the second has not joined
	if res := reconcileOnce(t, r, ns, e.Name); res.RequeueAfter != pipeline.Joining {
		t.Errorf("a Ready core not joined: looked at again after %s, want %s", res.RequeueAfter, pipeline.Joining)
	}
	pod := &corev1.Pod{}
	get(t, ns, pods[1], pod)
	pod.Status.Conditions[0].Status = corev1.ConditionFalse
	if err := directAPI.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitForPodsInCache(t, e, 1)
	if res := reconcileOnce(t, r, ns, e.Name); res.RequeueAfter != pipeline.Converging {
		t.Errorf("a core not Ready yet: looked at again after %s, want %s", res.RequeueAfter, pipeline.Converging)
	}
}
