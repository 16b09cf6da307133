package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

// seedArticleCluster reads the article's EmqxEnterprise (testdata, three changes as the file says).
func seedArticleCluster(t *testing.T, ns string) *v1beta2.EmqxEnterprise {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "seed-emqx-ee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ee := &v1beta2.EmqxEnterprise{}
	if err := yaml.UnmarshalStrict(raw, ee); err != nil {
		t.Fatal(err)
	}
	ee.Namespace = ns
	return ee
}

func getEE(t testing.TB, ns, name string) *v1beta2.EmqxEnterprise {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	ee := &v1beta2.EmqxEnterprise{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ee); err != nil {
		t.Fatal(err)
	}
	return ee
}

// waitForEE waits until the EmqxEnterprise's condition has the status, for its current generation.
func waitForEE(t testing.TB, ns, name, cond string, status metav1.ConditionStatus, timeout time.Duration) *v1beta2.EmqxEnterprise {
	t.Helper()
	var got *v1beta2.EmqxEnterprise
	harness.Eventually(t, timeout, fmt.Sprintf("%s/%s %s=%s", ns, name, cond, status), func() error {
		got = getEE(t, ns, name)
		c := meta.FindStatusCondition(got.Status.Conditions, cond)
		if c == nil || c.Status != status || got.Status.ObservedGeneration != got.Generation {
			var parts []string
			for _, c := range got.Status.Conditions {
				parts = append(parts, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
			}
			return fmt.Errorf("conditions %s", strings.Join(parts, "; "))
		}
		return nil
	})
	return got
}

func updateEE(t *testing.T, ns, name string, mutate func(*v1beta2.EmqxEnterprise)) {
	t.Helper()
	harness.Eventually(t, 10*time.Second, "update "+name, func() error {
		ee := getEE(t, ns, name)
		mutate(ee)
		ctx, cancel := harness.Ctx()
		defer cancel()
		return env.Client.Update(ctx, ee)
	})
}

func clusterLicenses(t *testing.T, ns string) map[string]string {
	t.Helper()
	nodes, err := env.Sim.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range nodes {
		if strings.HasPrefix(n.Pod, ns+"/") && n.State == "running" {
			out[n.Name] = n.License
		}
	}
	return out
}

// TestSeedArticleEnterpriseCluster: the article's EmqxEnterprise becomes 5 running EMQX 4.4 nodes
// in one cluster behind a LoadBalancer Service with both annotations, every pod carrying the
// article's env and the licence file; a new licence is loaded without restarting a pod, and a
// licence EMQX refuses never reaches the pods.
func TestSeedArticleEnterpriseCluster(t *testing.T) {
	ns := env.NewNamespace(t)
	start := time.Now()
	ee := seedArticleCluster(t, ns)
	create(t, ee)
	got := waitForEE(t, ns, "emqx-ee", v1beta2.ConditionRunning, metav1.ConditionTrue, 120*time.Second)
	t.Logf("Running in %s", time.Since(start).Round(time.Millisecond))
	if got.Status.ReadyReplicas != 5 || len(got.Status.EmqxNodes) != 5 {
		t.Fatalf("status: %d ready, nodes %+v", got.Status.ReadyReplicas, got.Status.EmqxNodes)
	}
	for _, c := range []string{v1beta2.ConditionHealthy} {
		if !meta.IsStatusConditionTrue(got.Status.Conditions, c) {
			t.Errorf("%s is not True: %+v", c, meta.FindStatusCondition(got.Status.Conditions, c))
		}
	}
	for _, c := range []string{v1beta2.ConditionFailed, v1beta2.ConditionCreating} {
		if meta.IsStatusConditionTrue(got.Status.Conditions, c) {
			t.Errorf("%s is True: %+v", c, meta.FindStatusCondition(got.Status.Conditions, c))
		}
	}
	nodes, err := env.Sim.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	clusters := map[int]int{}
	for _, n := range nodes {
		if strings.HasPrefix(n.Pod, ns+"/") && n.State == "running" {
			clusters[n.Cluster]++
			if n.Version != "4.4.1" {
				t.Errorf("node %s runs %s", n.Name, n.Version)
			}
		}
	}
	if len(clusters) != 1 {
		t.Errorf("the 5 nodes form %d EMQX clusters, want 1: %v", len(clusters), clusters)
	}

	ctx, cancel := harness.Ctx()
	defer cancel()
	svc := &corev1.Service{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "emqx-ee"}, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("listener Service type %s", svc.Spec.Type)
	}
	for k, v := range ee.Spec.EmqxTemplate.Listener.Annotations {
		if svc.Annotations[k] != v {
			t.Errorf("listener Service annotation %s=%q, want %q", k, svc.Annotations[k], v)
		}
	}
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 5 {
		t.Fatalf("%d pods, want 5", len(pods.Items))
	}
	uids := map[string]string{}
	for _, p := range pods.Items {
		uids[p.Name] = string(p.UID)
		c := p.Spec.Containers[0]
		got := map[string]string{}
		for _, e := range c.Env {
			got[e.Name] = e.Value
		}
		for _, want := range ee.Spec.Env {
			if got[want.Name] != want.Value {
				t.Errorf("pod %s: %s=%q, want %q", p.Name, want.Name, got[want.Name], want.Value)
			}
		}
		if got["EMQX_LICENSE__FILE"] == "" {
			t.Errorf("pod %s: no EMQX_LICENSE__FILE", p.Name)
		}
		if c.Resources.Requests.Cpu().String() != "4" || c.Resources.Limits.Memory().String() != "20Gi" {
			t.Errorf("pod %s resources %v", p.Name, c.Resources)
		}
		mounted := false
		for _, v := range p.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == "emqx-ee-license" {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("pod %s does not mount the licence Secret", p.Name)
		}
	}
	for node, lic := range clusterLicenses(t, ns) {
		if !strings.Contains(lic, "article-reader") {
			t.Errorf("node %s runs licence %q, want the article's test licence", node, lic)
		}
	}

	// A new licence: loaded into the running cluster, no pod restarted.
	renewed := simulator.EncodeTestLicense("article-reader-renewed", "official", 2000000, time.Date(2099, 6, 1, 0, 0, 0, 0, time.UTC))
	updateEE(t, ns, "emqx-ee", func(e *v1beta2.EmqxEnterprise) { e.Spec.EmqxTemplate.License = renewed })
	harness.Eventually(t, 30*time.Second, "every node runs the renewed licence", func() error {
		for node, lic := range clusterLicenses(t, ns) {
			if !strings.Contains(lic, "article-reader-renewed") {
				return fmt.Errorf("node %s runs %q", node, lic)
			}
		}
		return nil
	})
	got = waitForEE(t, ns, "emqx-ee", v1beta2.ConditionRunning, metav1.ConditionTrue, 30*time.Second)
	if got.Status.LicenseRevision == "" || meta.IsStatusConditionTrue(got.Status.Conditions, v1beta2.ConditionFailed) {
		t.Errorf("status after the renewal: revision %q, conditions %+v", got.Status.LicenseRevision, got.Status.Conditions)
	}
	renewedRevision := got.Status.LicenseRevision
	assertSecretLicense(t, ns, renewed)
	assertPodsKept(t, ns, uids)
	if len(eventsWithReason(t, ns, "LicenseReloaded")) == 0 {
		t.Error("no LicenseReloaded Event")
	}
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	uploads := 0
	for _, c := range calls {
		if c.Method == "POST" && c.Path == "/api/v4/license/upload" && strings.Contains(c.Node, ns) {
			uploads++
		}
	}
	if uploads != 1 {
		t.Errorf("%d licence uploads, want 1 (one node loads it into the whole cluster)", uploads)
	}

	// A licence EMQX refuses: Failed with the reason, the pods keep mounting the renewed one.
	updateEE(t, ns, "emqx-ee", func(e *v1beta2.EmqxEnterprise) { e.Spec.EmqxTemplate.License = "not a licence" })
	got = waitForEE(t, ns, "emqx-ee", v1beta2.ConditionFailed, metav1.ConditionTrue, 30*time.Second)
	failed := meta.FindStatusCondition(got.Status.Conditions, v1beta2.ConditionFailed)
	if failed.Reason != "LicenseRejected" || got.Status.LicenseRevision != renewedRevision {
		t.Errorf("after a bad licence: %+v, revision %q (want %q kept)", failed, got.Status.LicenseRevision, renewedRevision)
	}
	assertSecretLicense(t, ns, renewed)
	assertPodsKept(t, ns, uids)
	for node, lic := range clusterLicenses(t, ns) {
		if !strings.Contains(lic, "article-reader-renewed") {
			t.Errorf("node %s runs %q after a refused licence", node, lic)
		}
	}
}

func assertSecretLicense(t *testing.T, ns, want string) {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "emqx-ee-license"}, s); err != nil {
		t.Fatal(err)
	}
	if string(s.Data[v1beta2.LicenseKey]) != want {
		t.Errorf("the licence Secret holds another licence than the one in effect")
	}
}

func assertPodsKept(t *testing.T, ns string, uids map[string]string) {
	t.Helper()
	for name, uid := range uids {
		if p := env.FindPod(t, ns, name); p == nil || string(p.UID) != uid {
			t.Errorf("pod %s was restarted", name)
		}
	}
}

// TestSeedArticleBadInput: replicas below the API's minimum and an unknown listener type are
// refused by the API server; a licence Secret that does not exist is reported as Failed with
// nothing applied, and the cluster comes up once the Secret is created.
func TestSeedArticleBadInput(t *testing.T) {
	ns := env.NewNamespace(t)
	ctx, cancel := harness.Ctx()
	defer cancel()
	for name, mutate := range map[string]func(*v1beta2.EmqxEnterprise){
		"replicas 0":            func(e *v1beta2.EmqxEnterprise) { e.Spec.Replicas = ptr.To[int32](0) },
		"listener type Ingress": func(e *v1beta2.EmqxEnterprise) { e.Spec.EmqxTemplate.Listener.Type = "Ingress" },
		"licence twice": func(e *v1beta2.EmqxEnterprise) {
			e.Spec.EmqxTemplate.LicenseSecretName = "emqx-license"
		},
	} {
		ee := seedArticleCluster(t, ns)
		mutate(ee)
		err := env.Client.Create(ctx, ee)
		if err == nil || !strings.Contains(err.Error(), "Invalid") {
			t.Errorf("%s: created (%v), want the API server to refuse it", name, err)
		}
	}

	ee := seedArticleCluster(t, ns)
	ee.Name = "missing-licence"
	lic := ee.Spec.EmqxTemplate.License
	ee.Spec.EmqxTemplate.License, ee.Spec.EmqxTemplate.LicenseSecretName = "", "emqx-license"
	ee.Spec.Replicas = ptr.To[int32](3)
	create(t, ee)
	got := waitForEE(t, ns, "missing-licence", v1beta2.ConditionFailed, metav1.ConditionTrue, 30*time.Second)
	failed := meta.FindStatusCondition(got.Status.Conditions, v1beta2.ConditionFailed)
	if failed.Reason != "LicenseSecretNotFound" || !strings.Contains(failed.Message, "emqx-license") {
		t.Errorf("Failed condition %+v", failed)
	}
	if len(eventsWithReason(t, ns, "LicenseSecretNotFound")) != 1 {
		t.Errorf("want exactly one LicenseSecretNotFound Event")
	}
	for _, obj := range []client.Object{&corev1.Service{}, &corev1.ConfigMap{}} {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "missing-licence"}, obj); err == nil {
			t.Errorf("%T missing-licence was applied while the licence Secret is missing", obj)
		}
	}
	sets := &appsv1.StatefulSetList{}
	if err := env.Client.List(ctx, sets, client.InNamespace(ns)); err != nil || len(sets.Items) != 0 {
		t.Errorf("StatefulSets applied while the licence Secret is missing: %d (%v)", len(sets.Items), err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "emqx-license"},
		StringData: map[string]string{v1beta2.LicenseKey: lic}}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	got = waitForEE(t, ns, "missing-licence", v1beta2.ConditionRunning, metav1.ConditionTrue, 60*time.Second)
	if meta.IsStatusConditionTrue(got.Status.Conditions, v1beta2.ConditionFailed) {
		t.Errorf("still Failed once the Secret exists: %+v", meta.FindStatusCondition(got.Status.Conditions, v1beta2.ConditionFailed))
	}
	for node, l := range clusterLicenses(t, ns) {
		if !strings.Contains(l, "article-reader") {
			t.Errorf("node %s runs %q, want the licence from the Secret", node, l)
		}
	}
}

// TestEmqxBrokerScalesAndRotatesItsListenerCertificate: an EmqxBroker with an MQTTS certificate
// runs 3 nodes; a new certificate is rolled out by restarting mqtt:ssl:external alone (no pod
// restarted, no other listener touched); a pair that does not load is refused and the running one
// stays; scaling to 4 and back to 2 goes through the lifecycle layer.
func TestEmqxBrokerScalesAndRotatesItsListenerCertificate(t *testing.T) {
	ns := env.NewNamespace(t)
	ctx, cancel := harness.Ctx()
	defer cancel()
	a, aKey := tlscerttest.Valid("broker." + ns + ".svc")
	b := &v1beta2.EmqxBroker{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "broker"},
		Spec: v1beta2.EmqxBrokerSpec{EmqxSpec: v1beta2.EmqxSpec{Image: "emqx/emqx:4.4.19", Replicas: ptr.To[int32](3)}}}
	b.Spec.EmqxTemplate.Listener.Certificate.MQTTS = &v1beta2.CertificateData{StringData: map[string]string{"tls.crt": string(a), "tls.key": string(aKey)}}
	create(t, b)
	getBroker := func() *v1beta2.EmqxBroker {
		got := &v1beta2.EmqxBroker{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "broker"}, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	waitBroker := func(what string, ok func(*v1beta2.EmqxBroker) bool) *v1beta2.EmqxBroker {
		t.Helper()
		var got *v1beta2.EmqxBroker
		harness.Eventually(t, 90*time.Second, what, func() error {
			got = getBroker()
			if got.Status.ObservedGeneration != got.Generation || !ok(got) {
				return fmt.Errorf("status %+v", got.Status)
			}
			return nil
		})
		return got
	}
	running := func(n int32) func(*v1beta2.EmqxBroker) bool {
		return func(g *v1beta2.EmqxBroker) bool {
			return meta.IsStatusConditionTrue(g.Status.Conditions, v1beta2.ConditionRunning) && g.Status.ReadyReplicas == n && len(g.Status.EmqxNodes) == int(n)
		}
	}
	got := waitBroker("3 nodes running", running(3))
	if len(got.Status.ListenerCertificates) != 1 || !got.Status.ListenerCertificates[0].Restarted {
		t.Fatalf("listener certificates %+v", got.Status.ListenerCertificates)
	}
	firstRevision := got.Status.ListenerCertificates[0].Revision
	uids := map[string]string{}
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		uids[p.Name] = string(p.UID)
	}

	c, cKey := tlscerttest.Valid("broker." + ns + ".svc")
	update := func(mutate func(*v1beta2.EmqxBroker)) {
		harness.Eventually(t, 10*time.Second, "update", func() error {
			g := getBroker()
			mutate(g)
			return env.Client.Update(ctx, g)
		})
	}
	update(func(g *v1beta2.EmqxBroker) {
		g.Spec.EmqxTemplate.Listener.Certificate.MQTTS.StringData = map[string]string{"tls.crt": string(c), "tls.key": string(cKey)}
	})
	got = waitBroker("the new certificate served after a listener restart", func(g *v1beta2.EmqxBroker) bool {
		lc := g.Status.ListenerCertificates
		return len(lc) == 1 && lc[0].Revision != firstRevision && lc[0].Restarted
	})
	assertPodsKept(t, ns, uids)
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	var restarts []string
	for _, call := range calls {
		if call.Method == "PUT" && strings.HasPrefix(call.Path, "/api/v4/listeners/") && strings.Contains(call.Node, ns) {
			restarts = append(restarts, call.Path)
		}
	}
	if len(restarts) != 1 || restarts[0] != "/api/v4/listeners/mqtt:ssl:external/restart" {
		t.Errorf("listener restarts %v, want exactly mqtt:ssl:external once", restarts)
	}
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "broker-mqtts-cert"}, secret); err != nil || string(secret.Data["tls.crt"]) != string(c) {
		t.Errorf("the listener's Secret does not hold the new certificate (%v)", err)
	}

	// A certificate with another pair's key: refused, nothing changes.
	update(func(g *v1beta2.EmqxBroker) {
		g.Spec.EmqxTemplate.Listener.Certificate.MQTTS.StringData = map[string]string{"tls.crt": string(a), "tls.key": string(cKey)}
	})
	got = waitBroker("a mismatched pair refused", func(g *v1beta2.EmqxBroker) bool {
		f := meta.FindStatusCondition(g.Status.Conditions, v1beta2.ConditionFailed)
		return f != nil && f.Status == metav1.ConditionTrue && f.Reason == "InvalidCertificate"
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "broker-mqtts-cert"}, secret); err != nil || string(secret.Data["tls.crt"]) != string(c) {
		t.Errorf("a refused pair reached the listener's Secret (%v)", err)
	}

	// Scale out and in, back on the good pair.
	update(func(g *v1beta2.EmqxBroker) {
		g.Spec.EmqxTemplate.Listener.Certificate.MQTTS.StringData = map[string]string{"tls.crt": string(c), "tls.key": string(cKey)}
		g.Spec.Replicas = ptr.To[int32](4)
	})
	waitBroker("4 nodes running", running(4))
	update(func(g *v1beta2.EmqxBroker) { g.Spec.Replicas = ptr.To[int32](2) })
	got = waitBroker("2 nodes running", running(2))
	for _, n := range got.Status.EmqxNodes {
		if strings.Contains(n.Node, "broker-2.") || strings.Contains(n.Node, "broker-3.") {
			t.Errorf("a removed node is still listed: %s", n.Node)
		}
	}
}
