package install

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// metricsReaderRole is the path's ClusterRole that allows getting /metrics.
func metricsReaderRole(t *testing.T, p installPath) string {
	t.Helper()
	for _, o := range p.objects {
		if o.GetKind() != "ClusterRole" {
			continue
		}
		r := &rbacv1.ClusterRole{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, r); err != nil {
			t.Fatal(err)
		}
		for _, rule := range r.Rules {
			for _, u := range rule.NonResourceURLs {
				if u == "/metrics" {
					return r.Name
				}
			}
		}
	}
	t.Fatalf("%s ships no ClusterRole that may get /metrics", p.name)
	return ""
}

// checkMetrics scrapes the path's manager as docs/monitoring.md tells a user to: a ServiceAccount
// bound to the path's metrics-reader role, its token from `kubectl create token`. The endpoint
// refuses callers without a token (401) and with a token not allowed /metrics (403), and the
// allowed caller sees the cluster it made Ready.
func checkMetrics(t *testing.T, p installPath, addr, clusterNS string) {
	t.Helper()
	reader, scraper, stranger := metricsReaderRole(t, p), "prometheus-"+p.name, "stranger-"+p.name
	for _, args := range [][]string{
		{"-n", p.namespace, "create", "serviceaccount", scraper},
		{"-n", p.namespace, "create", "serviceaccount", stranger},
		{"create", "clusterrolebinding", scraper, "--clusterrole=" + reader, "--serviceaccount=" + p.namespace + ":" + scraper},
	} {
		if err := env.Kubectl(args...); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		if err := env.Kubectl("delete", "clusterrolebinding", scraper); err != nil {
			t.Error(err)
		}
	}()
	token := func(sa string) string {
		out, err := env.KubectlOutput("-n", p.namespace, "create", "token", sa)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	allowed, notAllowed := token(scraper), token(stranger)
	// The manager's certificate is self-signed, as the shipped ServiceMonitor expects.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the manager's self-signed certificate
	scrape := func(bearer string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close() //nolint:errcheck // read-only body
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	for _, c := range []struct {
		who, token string
		want       int
	}{{"no token", "", http.StatusUnauthorized}, {"a token without the reader role", notAllowed, http.StatusForbidden}} {
		if code, _, err := scrape(c.token); err != nil || code != c.want {
			t.Errorf("%s: scraping with %s: HTTP %d (%v), want %d", p.name, c.who, code, err, c.want)
		}
	}
	labels := fmt.Sprintf(`name="emqx",namespace=%q`, clusterNS)
	want := []string{
		"emqx_operator_cluster_ready{" + labels + "} 1",
		"emqx_operator_cluster_nodes_wanted{" + labels + `,role="core"} 1`,
		"emqx_operator_cluster_nodes_running{" + labels + `,role="core"} 1`,
		"emqx_operator_cluster_nodes_running{" + labels + `,role="replicant"} 1`,
		"emqx_operator_cluster_rollout_in_progress{" + labels + "} 0",
		`emqx_operator_emqx_api_requests_total{method="GET",result="2xx",route="/api/v5/nodes"}`,
		`emqx_operator_reconcile_step_duration_seconds_count{kind="EMQX",step=`,
	}
	harness.Eventually(t, 30*time.Second, p.name+": the cluster in the operator's metrics", func() error {
		code, body, err := scrape(allowed)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("HTTP %d (%v)", code, err)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				return fmt.Errorf("no %s in the metrics", w)
			}
		}
		return nil
	})
}
