package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// A real Prometheus server (built by hack/tools.sh from its Go module, v0.316.0, with Kubernetes
// discovery compiled in: Debian's package leaves it out) for the e2e suite. It
// discovers the EMQX pods through the local cluster's API server (kubernetes_sd with the
// cluster's kubeconfig), the way the Prometheus Operator's configuration from a PodMonitor does,
// scrapes the operator, and evaluates the project's alert rules.

// ScrapeConfig is one scrape_configs entry of Prometheus's configuration file.
type ScrapeConfig map[string]any

// PodMonitorScrapeConfig translates a PodMonitor's first endpoint into the scrape configuration
// the Prometheus Operator generates for it: pods of the PodMonitor's namespace discovered through
// the API server, kept when their labels match the selector and their container port has the
// endpoint's name, scraped at that port with the endpoint's path, params and basic auth (the
// Secret's values given here, as the Prometheus Operator reads them into its generated config).
// scrapeInterval overrides the endpoint's interval (the test wants samples every second).
func PodMonitorScrapeConfig(pm *monitoringv1.PodMonitor, kubeconfig, username, password, scrapeInterval string) (ScrapeConfig, error) {
	if len(pm.Spec.PodMetricsEndpoints) == 0 {
		return nil, fmt.Errorf("PodMonitor %s has no endpoint", pm.Name)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port == nil {
		return nil, fmt.Errorf("PodMonitor %s: the endpoint names no port", pm.Name)
	}
	relabel := []map[string]any{}
	for k, v := range pm.Spec.Selector.MatchLabels {
		relabel = append(relabel, map[string]any{"action": "keep",
			"source_labels": []string{"__meta_kubernetes_pod_label_" + sanitizeLabel(k)}, "regex": regexp.QuoteMeta(v)})
	}
	relabel = append(relabel,
		map[string]any{"action": "keep", "source_labels": []string{"__meta_kubernetes_pod_container_port_name"}, "regex": *ep.Port},
		map[string]any{"action": "drop", "source_labels": []string{"__meta_kubernetes_pod_phase"}, "regex": "(Failed|Succeeded)"},
		map[string]any{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
		map[string]any{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
	)
	sc := ScrapeConfig{
		"job_name":        fmt.Sprintf("podMonitor/%s/%s/0", pm.Namespace, pm.Name),
		"scrape_interval": scrapeInterval,
		"metrics_path":    ep.Path,
		"kubernetes_sd_configs": []map[string]any{{"role": "pod", "kubeconfig_file": kubeconfig,
			"namespaces": map[string]any{"names": []string{pm.Namespace}}}},
		"relabel_configs": relabel,
	}
	if len(ep.Params) > 0 {
		sc["params"] = ep.Params
	}
	if ep.BasicAuth != nil {
		sc["basic_auth"] = map[string]string{"username": username, "password": password}
	}
	return sc, nil
}

// ServiceMonitorScrapeConfig translates a ServiceMonitor's first endpoint into the scrape
// configuration the Prometheus Operator generates for it with EndpointSlice discovery: endpoints
// of Services in the ServiceMonitor's namespace whose labels match its selector, at the port of
// the endpoint's name, with its scheme, path and honorLabels; the bearer token it would read from
// its file is given here, and the TLS settings kept.
func ServiceMonitorScrapeConfig(sm *monitoringv1.ServiceMonitor, kubeconfig, bearerToken, scrapeInterval string) (ScrapeConfig, error) {
	if len(sm.Spec.Endpoints) == 0 {
		return nil, fmt.Errorf("ServiceMonitor %s has no endpoint", sm.Name)
	}
	ep := sm.Spec.Endpoints[0]
	relabel := []map[string]any{}
	for k, v := range sm.Spec.Selector.MatchLabels {
		relabel = append(relabel, map[string]any{"action": "keep",
			"source_labels": []string{"__meta_kubernetes_service_label_" + sanitizeLabel(k)}, "regex": regexp.QuoteMeta(v)})
	}
	relabel = append(relabel,
		map[string]any{"action": "keep", "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"}, "regex": ep.Port},
		map[string]any{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
		map[string]any{"source_labels": []string{"__meta_kubernetes_service_name"}, "target_label": "service"},
	)
	sc := ScrapeConfig{
		"job_name":        fmt.Sprintf("serviceMonitor/%s/%s/0", sm.Namespace, sm.Name),
		"scrape_interval": scrapeInterval,
		"metrics_path":    ep.Path,
		"scheme":          orDefault(ep.Scheme, "http"),
		"kubernetes_sd_configs": []map[string]any{{"role": "endpointslice", "kubeconfig_file": kubeconfig,
			"namespaces": map[string]any{"names": []string{sm.Namespace}}}},
		"relabel_configs": relabel,
		"honor_labels":    ep.HonorLabels,
	}
	if ep.BearerTokenFile != "" { //nolint:staticcheck // the shipped ServiceMonitor uses it, as operator-sdk's does
		sc["authorization"] = map[string]any{"credentials": bearerToken}
	}
	if ep.TLSConfig != nil && ep.TLSConfig.InsecureSkipVerify != nil && *ep.TLSConfig.InsecureSkipVerify {
		sc["tls_config"] = map[string]any{"insecure_skip_verify": true}
	}
	return sc, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitizeLabel is how kubernetes_sd names a Kubernetes label in its meta labels.
func sanitizeLabel(k string) string { return invalidLabelChars.ReplaceAllString(k, "_") }

// Prometheus is a running prometheus process.
type Prometheus struct {
	p    *process
	Addr string
}

// StartPrometheus runs prometheus with the given scrape configurations and rule files, evaluating
// every second.
func (e *Env) StartPrometheus(scrapes []ScrapeConfig, ruleFiles []string) (*Prometheus, error) {
	bin, err := exec.Command(filepath.Join(e.cfg.RepoRoot, "hack", "tools.sh"), "path", "prometheus").Output()
	if err != nil {
		return nil, fmt.Errorf("the pinned prometheus: %w", err)
	}
	dir, err := os.MkdirTemp(e.workDir, "prometheus-")
	if err != nil {
		return nil, err
	}
	cfg, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"rule_files":     ruleFiles,
		"scrape_configs": scrapes,
	})
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	addr, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProcess("prometheus", e.logDir, nil, strings.TrimSpace(string(bin)),
		"--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=info")
	if err != nil {
		return nil, err
	}
	prom := &Prometheus{p: p, Addr: addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return prom, nil
			}
		}
		if !p.running() || time.Now().After(deadline) {
			prom.Stop()
			return nil, fmt.Errorf("prometheus did not become ready; see %s", p.logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop ends prometheus.
func (p *Prometheus) Stop() { p.p.stop(10 * time.Second) }

// API calls /api/v1/<path> and decodes its data field into out.
func (p *Prometheus) API(path string, query url.Values, out any) error {
	u := "http://" + p.Addr + "/api/v1/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %w: %s", path, err, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// Sample is one element of an instant query's vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs an instant PromQL query and returns its vector (a scalar comes back as one sample).
func (p *Prometheus) Query(q string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.API("query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType == "scalar" {
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		return []Sample{{Value: v}}, nil
	}
	var out []Sample
	return out, json.Unmarshal(data.Result, &out)
}

// Alert is one element of /api/v1/alerts.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// Alerts lists the pending and firing alerts.
func (p *Prometheus) Alerts() ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	return data.Alerts, p.API("alerts", nil, &data)
}

// Target is one element of /api/v1/targets' activeTargets.
type Target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// Targets lists the active targets.
func (p *Prometheus) Targets() ([]Target, error) {
	var data struct {
		ActiveTargets []Target `json:"activeTargets"`
	}
	return data.ActiveTargets, p.API("targets", nil, &data)
}
