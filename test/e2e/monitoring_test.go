package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// TestPodMonitorScrapesEMQXWithItsOwnKey: spec.monitoring.podMonitor on an EMQX 6.3 cluster
// (whose stats endpoint asks for an API key by default). Without the Prometheus Operator's CRDs the
// cluster is Ready and MonitoringReady says what is missing; the CRD's arrival alone (no change to
// the cluster) makes the operator create the PodMonitor, whose basic-auth key EMQX accepts;
// scraping a pod the way the PodMonitor says returns EMQX's series, and without the key 401;
// removing spec.monitoring removes the PodMonitor and the condition.
func TestPodMonitorScrapesEMQXWithItsOwnKey(t *testing.T) {
	// Other tests install the CRD; without it is where this one starts. The operator may have
	// learnt the kind already: to it, the CRD is gone, as when a user uninstalls the Prometheus Operator.
	kubectl(t, "delete", "--ignore-not-found", "--wait", "-f", "testdata/prometheus-operator-podmonitors-crd.yaml")
	ns := env.NewNamespace(t)
	kubectl(t, "-n", ns, "apply", "-f", writeTemp(t, `apiVersion: apps.emqx.io/v2beta1
kind: EMQX
metadata: {name: mon}
spec:
  image: emqx/emqx-enterprise:6.3.0
  coreTemplate:
    spec: {replicas: 1}
  monitoring:
    podMonitor:
      interval: 30s
      labels: {release: kube-prometheus-stack}
`))
	env.WaitForCondition(t, ns, "mon", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	e := env.WaitForCondition(t, ns, "mon", v2beta1.MonitoringReady, metav1.ConditionFalse, 30*time.Second)
	if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.MonitoringReady); c.Reason != "PrometheusOperatorMissing" ||
		!strings.Contains(c.Message, "monitoring.coreos.com/v1 PodMonitor") {
		t.Errorf("MonitoringReady without the CRD = %+v", c)
	}
	if len(eventsWithReason(t, ns, "PrometheusOperatorMissing")) == 0 {
		t.Error("no Warning Event says the Prometheus Operator is missing")
	}

	kubectl(t, "apply", "-f", "testdata/prometheus-operator-podmonitors-crd.yaml")
	e = env.WaitForCondition(t, ns, "mon", v2beta1.MonitoringReady, metav1.ConditionTrue, 60*time.Second)
	if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.MonitoringReady); c.Reason != "Scraping" {
		t.Errorf("MonitoringReady with the CRD = %+v", c)
	}
	if !meta.IsStatusConditionTrue(e.Status.Conditions, v2beta1.Ready) {
		t.Error("the cluster left Ready while its PodMonitor was made")
	}

	out, err := env.KubectlOutput("-n", ns, "get", "podmonitor", "mon", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var pm monitoringv1.PodMonitor
	if err := json.Unmarshal([]byte(out), &pm); err != nil {
		t.Fatal(err)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Labels["release"] != "kube-prometheus-stack" || pm.Spec.Selector.MatchLabels[v2beta1.LabelInstance] != "mon" ||
		pm.Spec.PodMetricsEndpoints[0].BasicAuth == nil {
		t.Fatalf("PodMonitor = %s", out)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ptr.Deref(ep.Port, "") != "dashboard" || ep.Path != "/api/v5/prometheus/stats" || ep.Interval != "30s" || strings.Join(ep.Params["mode"], ",") != "node" {
		t.Errorf("endpoint = %+v", ep)
	}
	user := secretValue(t, ns, ep.BasicAuth.Username.Name, ep.BasicAuth.Username.Key)
	password := secretValue(t, ns, ep.BasicAuth.Password.Name, ep.BasicAuth.Password.Key)

	// Scrape the pod as the PodMonitor describes it: the container port named "dashboard", the path, the params.
	p := pods(t, ns)[0]
	port := int32(0)
	for _, cp := range p.Spec.Containers[0].Ports {
		if cp.Name == *ep.Port {
			port = cp.ContainerPort
		}
	}
	url := fmt.Sprintf("http://%s:%d%s?mode=%s", p.Status.PodIP, port, ep.Path, ep.Params["mode"][0])
	scrape := func(withKey bool) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if withKey {
			req.SetBasicAuth(user, password)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close() //nolint:errcheck // read-only body
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := scrape(true); code != http.StatusOK || !strings.Contains(body, "emqx_connections_count ") {
		t.Errorf("scrape with the PodMonitor's key: %d\n%s", code, body)
	}
	if code, _ := scrape(false); code != http.StatusUnauthorized {
		t.Errorf("scrape without a key: %d, want 401 (EMQX 6.3 asks for one)", code)
	}

	kubectl(t, "-n", ns, "patch", "emqx", "mon", "--type=json", "-p", `[{"op":"remove","path":"/spec/monitoring"}]`)
	harness.Eventually(t, 30*time.Second, "the PodMonitor and MonitoringReady gone", func() error {
		if _, err := env.KubectlOutput("-n", ns, "get", "podmonitor", "mon"); err == nil {
			return fmt.Errorf("PodMonitor mon still exists")
		}
		if c := meta.FindStatusCondition(env.GetEMQX(t, ns, "mon").Status.Conditions, v2beta1.MonitoringReady); c != nil {
			return fmt.Errorf("MonitoringReady = %+v", c)
		}
		return nil
	})
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPodMonitorOnARunningClusterWaitsForItsKey: monitoring turned on for a running EMQX 6.3
// cluster. EMQX reads API keys from the bootstrap file only when a core starts, so it refuses the
// new scrape key: MonitoringReady says so and how to load it, and the cluster stays Ready. A
// rolling update of the cores (an annotation on the core template, as the message says) loads it.
// A PodMonitor the user wrote under the same name is reported and left alone until deleted.
func TestPodMonitorOnARunningClusterWaitsForItsKey(t *testing.T) {
	kubectl(t, "apply", "-f", "testdata/prometheus-operator-podmonitors-crd.yaml")
	ns := env.NewNamespace(t)
	kubectl(t, "-n", ns, "apply", "-f", writeTemp(t, `apiVersion: apps.emqx.io/v2beta1
kind: EMQX
metadata: {name: late}
spec:
  image: emqx/emqx-enterprise:6.3.0
  coreTemplate:
    spec: {replicas: 1}
  updateStrategy: {initialDelaySeconds: 1}
`))
	env.WaitForCondition(t, ns, "late", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	// A PodMonitor the user wrote by hand under the name the operator would use is left alone.
	handWritten := `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: late, labels: {written-by: hand}}
spec:
  selector: {matchLabels: {app: emqx}}
  podMetricsEndpoints: [{port: dashboard, path: /api/v5/prometheus/stats}]
`
	kubectl(t, "-n", ns, "apply", "-f", writeTemp(t, handWritten))
	kubectl(t, "-n", ns, "patch", "emqx", "late", "--type=merge", "-p", `{"spec":{"monitoring":{"podMonitor":{}}}}`)
	e := env.WaitForCondition(t, ns, "late", v2beta1.MonitoringReady, metav1.ConditionFalse, 30*time.Second)
	c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.MonitoringReady)
	if c.Reason != "PodMonitorNotOwned" || !strings.Contains(c.Message, "PodMonitor late exists") {
		t.Errorf("MonitoringReady with a hand-written PodMonitor = %+v", c)
	}
	if out, err := env.KubectlOutput("-n", ns, "get", "podmonitor", "late", "-o", "jsonpath={.metadata.labels.written-by} {.metadata.ownerReferences} {.spec.selector.matchLabels.app}"); err != nil ||
		out != "hand  emqx" {
		t.Errorf("the hand-written PodMonitor was changed: %q %v", out, err)
	}
	kubectl(t, "-n", ns, "delete", "podmonitor", "late")
	// Any change to the cluster makes the next pass create the operator's own.
	kubectl(t, "-n", ns, "annotate", "emqx", "late", "e2e/poke=1")
	e = env.WaitForCondition(t, ns, "late", v2beta1.MonitoringReady, metav1.ConditionFalse, 30*time.Second)
	harness.Eventually(t, 30*time.Second, "the operator's PodMonitor made", func() error {
		c = meta.FindStatusCondition(env.GetEMQX(t, ns, "late").Status.Conditions, v2beta1.MonitoringReady)
		if c == nil || c.Reason != "ScrapeCredentialsRefused" {
			return fmt.Errorf("MonitoringReady = %+v", c)
		}
		return nil
	})
	e = env.GetEMQX(t, ns, "late")
	if c.Reason != "ScrapeCredentialsRefused" || !strings.Contains(c.Message, "late-prometheus-api-key") || !strings.Contains(c.Message, "spec.coreTemplate") {
		t.Errorf("MonitoringReady = %+v", c)
	}
	if !meta.IsStatusConditionTrue(e.Status.Conditions, v2beta1.Ready) {
		t.Error("a refused scrape key took the cluster out of Ready")
	}
	kubectl(t, "-n", ns, "patch", "emqx", "late", "--type=merge", "-p", `{"spec":{"coreTemplate":{"metadata":{"annotations":{"reload-api-keys":"1"}}}}}`)
	env.WaitForCondition(t, ns, "late", v2beta1.MonitoringReady, metav1.ConditionTrue, 90*time.Second)
}
