package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

// TestPrometheusScrapesAlertsAndFillsTheDashboard runs a real Prometheus server against the local
// cluster: the EMQX pods discovered through the API server as the cluster's PodMonitor says, the
// operator scraped over HTTPS with a ServiceAccount token bound to the shipped reader role, the
// shipped alert rules evaluated. Every target is up; every query of the shipped dashboard returns
// data; the licence alert fires for a licence expiring in 5 days; the node-down alert goes pending
// while a core is stopped (its 2-minute `for:` is covered by the promtool tests) and clears when
// the core is back.
func TestPrometheusScrapesAlertsAndFillsTheDashboard(t *testing.T) {
	kubectl(t, "apply", "-f", "testdata/prometheus-operator-podmonitors-crd.yaml")
	ns := env.NewNamespace(t)
	setLicenseSecret(t, ns, simulator.EncodeTestLicense("Acme", "official", 1000000, time.Now().Add(5*24*time.Hour+time.Hour)))
	e := fastRollouts(coreReplicantCluster(ns, "prom", 2, 0))
	e.Spec.ReplicantTemplate = nil
	e.Spec.License = &v2beta1.License{SecretRef: v2beta1.KeyRef{SecretName: "emqx-license", SecretKey: "key"}}
	names := []string{"prom-listeners", "prom-listeners." + ns, "prom-listeners." + ns + ".svc"}
	e.Spec.TLS = &v2beta1.TLS{SecretName: "mqtt-tls", DNSNames: names}
	crt, key := tlscerttest.Valid(names...)
	setTLSSecret(t, ns, "mqtt-tls", crt, key, nil)
	e.Spec.Monitoring = &v2beta1.Monitoring{PodMonitor: &v2beta1.PodMonitor{Interval: "1s"}}
	create(t, e)
	env.WaitForCondition(t, ns, "prom", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	env.WaitForCondition(t, ns, "prom", v2beta1.MonitoringReady, metav1.ConditionTrue, 30*time.Second)
	env.WaitForCondition(t, ns, "prom", v2beta1.TLSCertificateReady, metav1.ConditionTrue, 30*time.Second)

	pm := podMonitor(t, ns, "prom")
	user := secretValue(t, ns, pm.Spec.PodMetricsEndpoints[0].BasicAuth.Username.Name, pm.Spec.PodMetricsEndpoints[0].BasicAuth.Username.Key)
	password := secretValue(t, ns, pm.Spec.PodMetricsEndpoints[0].BasicAuth.Password.Name, pm.Spec.PodMetricsEndpoints[0].BasicAuth.Password.Key)
	emqxJob, err := harness.PodMonitorScrapeConfig(pm, env.Kubeconfig, user, password, "1s")
	if err != nil {
		t.Fatal(err)
	}
	// The operator, as a ServiceMonitor's endpoint would scrape it: HTTPS, self-signed, a token
	// of a ServiceAccount bound to the shipped reader role.
	token := metricsReaderToken(t, ns)
	operatorJob := harness.ScrapeConfig{
		"job_name": "emqx-operator", "scheme": "https",
		"tls_config":     map[string]any{"insecure_skip_verify": true},
		"authorization":  map[string]any{"credentials": token},
		"static_configs": []map[string]any{{"targets": []string{env.OperatorMetrics}}},
	}
	prom, err := env.StartPrometheus([]harness.ScrapeConfig{emqxJob, operatorJob},
		[]string{filepath.Join(env.RepoRoot(), "config", "prometheus", "alerts.rules.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()

	harness.Eventually(t, 60*time.Second, "every target up", func() error {
		targets, err := prom.Targets()
		if err != nil {
			return err
		}
		emqxPods := 0
		for _, tg := range targets {
			if tg.Health != "up" {
				return fmt.Errorf("target %s is %s: %s", tg.ScrapeURL, tg.Health, tg.LastError)
			}
			if strings.HasPrefix(tg.Labels["job"], "podMonitor/") {
				emqxPods++
			}
		}
		if emqxPods != 2 || len(targets) != 3 {
			return fmt.Errorf("%d targets, %d of them EMQX pods: want the 2 cores and the operator", len(targets), emqxPods)
		}
		return nil
	})
	harness.Eventually(t, 30*time.Second, "EMQX's own series through the PodMonitor", func() error {
		return nonEmpty(prom, fmt.Sprintf(`emqx_connections_count{namespace=%q}`, ns))
	})
	harness.Eventually(t, 60*time.Second, "every dashboard query returns data", func() error {
		for _, q := range dashboardQueries(t, ns, "prom") {
			if err := nonEmpty(prom, q); err != nil {
				return err
			}
		}
		return nil
	})
	harness.Eventually(t, 30*time.Second, "the licence alert firing", func() error {
		return alertIs(prom, "EMQXLicenseExpiringSoon", ns, "firing")
	})

	core1 := nodeOf(ns, "prom", "prom-core-1")
	if err := env.Sim.SetFaults(core1, simulator.Faults{Stopped: true}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 60*time.Second, "the node-down alert pending", func() error {
		return alertIs(prom, "EMQXNodeDown", ns, "pending")
	})
	if err := env.Sim.SetFaults(core1, simulator.Faults{}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 60*time.Second, "the node-down alert gone", func() error {
		for _, state := range []string{"pending", "firing"} {
			if alertIs(prom, "EMQXNodeDown", ns, state) == nil {
				return fmt.Errorf("EMQXNodeDown still %s", state)
			}
		}
		return nil
	})
}

func podMonitor(t *testing.T, ns, name string) *monitoringv1.PodMonitor {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("monitoring.coreos.com/v1")
	u.SetKind("PodMonitor")
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	pm := &monitoringv1.PodMonitor{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, pm); err != nil {
		t.Fatal(err)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].BasicAuth == nil || ptr.Deref(pm.Spec.PodMetricsEndpoints[0].Port, "") == "" {
		t.Fatalf("PodMonitor %s: %+v", name, pm.Spec)
	}
	return pm
}

func secretValue(t *testing.T, ns, name, key string) string {
	t.Helper()
	v, err := env.KubectlOutput("-n", ns, "get", "secret", name, "-o", "jsonpath={.data."+key+"}")
	if err != nil {
		t.Fatal(err)
	}
	return decodeBase64(t, v)
}

// dashboardQueries are the shipped dashboard's panel queries, its variables set to one cluster.
func dashboardQueries(t *testing.T, ns, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.RepoRoot(), "config", "grafana", "emqx-operator-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$namespace", ns, "$cluster", name)
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, vars.Replace(tg.Expr))
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d queries in the dashboard", len(out))
	}
	if left := regexp.MustCompile(`\$\w+`).FindString(strings.Join(out, " ")); left != "" {
		t.Fatalf("a dashboard variable the test does not set: %s", left)
	}
	return out
}

func nonEmpty(prom *harness.Prometheus, q string) error {
	samples, err := prom.Query(q)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	if len(samples) == 0 {
		return fmt.Errorf("no data for %s", q)
	}
	return nil
}

// alertIs: the alert is in state for the cluster of namespace ns (nil), or why not.
func alertIs(prom *harness.Prometheus, name, ns, state string) error {
	alerts, err := prom.Alerts()
	if err != nil {
		return err
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == name && a.Labels["namespace"] == ns && a.State == state {
			return nil
		}
	}
	return fmt.Errorf("%s is not %s for %s (alerts: %v)", name, state, ns, alerts)
}

// TestPrometheusFindsTheOperatorThroughItsServiceMonitor: the shipped ServiceMonitor and metrics
// Service, with real EndpointSlices (network-namespace mode): the operator's pod from the shipped
// Deployment's template (kwok runs no container: the operator process listens on that pod's IP),
// the Service selecting it, and Prometheus configured from the ServiceMonitor as the Prometheus
// Operator would — it finds the operator through the EndpointSlice and scrapes it over HTTPS, and a
// cluster's series keep that cluster's namespace (not the operator's, which the target carries).
func TestPrometheusFindsTheOperatorThroughItsServiceMonitor(t *testing.T) {
	if env.NetMode() != "netns" {
		t.Skip("needs real EndpointSlices: E2E_NET_MODE=netns (make test runs so as root)")
	}
	ns := env.NewNamespace(t)
	clusterNS := env.NewNamespace(t)
	kubectl(t, "-n", clusterNS, "apply", "-f", writeTemp(t, `apiVersion: apps.emqx.io/v2beta1
kind: EMQX
metadata: {name: seen}
spec:
  image: emqx/emqx-enterprise:6.1.1
  coreTemplate:
    spec: {replicas: 1}
`))
	var deployment appsv1.Deployment
	var service corev1.Service
	var monitor monitoringv1.ServiceMonitor
	for file, into := range map[string]any{
		filepath.Join("config", "manager", "manager.yaml"):         &deployment,
		filepath.Join("config", "default", "metrics_service.yaml"): &service,
		filepath.Join("config", "prometheus", "monitor.yaml"):      &monitor,
	} {
		decodeShipped(t, file, into)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "emqx-operator-0", Labels: deployment.Spec.Template.Labels},
		Spec: *deployment.Spec.Template.Spec.DeepCopy()}
	pod.Spec.ServiceAccountName = ""
	service.Namespace, monitor.Namespace = ns, ns
	create(t, pod)
	create(t, &service)
	var podIP string
	harness.Eventually(t, 30*time.Second, "the operator's pod running with an IP", func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if podIP = pod.Status.PodIP; podIP == "" {
			return fmt.Errorf("no pod IP yet")
		}
		return nil
	})
	env.StopOperator()
	// The suite's operator comes back whatever happens below, so later tests have one.
	defer func() {
		env.StopOperator()
		if err := env.StartOperator(); err != nil {
			t.Fatal(err)
		}
	}()
	if err := env.StartOperatorWithMetricsOn(podIP + ":8443"); err != nil {
		t.Fatal(err)
	}

	token := metricsReaderToken(t, ns)
	job, err := harness.ServiceMonitorScrapeConfig(&monitor, env.Kubeconfig, token, "1s")
	if err != nil {
		t.Fatal(err)
	}
	prom, err := env.StartPrometheus([]harness.ScrapeConfig{job}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()
	harness.Eventually(t, 60*time.Second, "the operator found through its EndpointSlice and up", func() error {
		targets, err := prom.Targets()
		if err != nil {
			return err
		}
		if len(targets) != 1 {
			return fmt.Errorf("%d targets: %+v", len(targets), targets)
		}
		if tg := targets[0]; tg.Health != "up" || !strings.Contains(tg.ScrapeURL, "https://"+podIP+":8443/metrics") || tg.Labels["service"] != service.Name {
			return fmt.Errorf("target %+v", tg)
		}
		return nonEmpty(prom, `emqx_operator_reconcile_step_duration_seconds_count{job="`+job["job_name"].(string)+`"}`)
	})
	harness.Eventually(t, 30*time.Second, "the cluster's series under its own namespace", func() error {
		return nonEmpty(prom, `emqx_operator_cluster_nodes_wanted{job="`+job["job_name"].(string)+`",namespace="`+clusterNS+`",name="seen",role="core"}`)
	})
}

// metricsReaderToken is a token of a ServiceAccount "prometheus" in ns bound to the shipped
// metrics reader ClusterRole, as a user grants their Prometheus; the binding goes with the test.
func metricsReaderToken(t *testing.T, ns string) string {
	t.Helper()
	kubectl(t, "apply", "-f", filepath.Join(env.RepoRoot(), "config", "rbac", "metrics_reader_role.yaml"))
	kubectl(t, "-n", ns, "create", "serviceaccount", "prometheus")
	kubectl(t, "create", "clusterrolebinding", "e2e-prometheus-"+ns, "--clusterrole=emqx-operator-metrics-reader", "--serviceaccount="+ns+":prometheus")
	t.Cleanup(func() { _ = env.Kubectl("delete", "clusterrolebinding", "e2e-prometheus-"+ns) })
	token, err := env.KubectlOutput("-n", ns, "create", "token", "prometheus", "--duration=1h")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(token)
}

// decodeShipped reads the one object of kind into's type from a shipped manifest.
func decodeShipped(t *testing.T, file string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.RepoRoot(), file))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"*v1.Deployment": "Deployment", "*v1.Service": "Service", "*v1.ServiceMonitor": "ServiceMonitor"}[fmt.Sprintf("%T", into)]
	for _, doc := range strings.Split(string(b), "\n---") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind == want {
			if err := yaml.Unmarshal([]byte(doc), into); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("%s has no %s", file, want)
}
