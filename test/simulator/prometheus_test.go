package simulator

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// scrape asks as Prometheus does (text, not JSON), with the test key when auth is set.
func (w *testWorld) scrape(ip int, query string, auth bool) answer {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.77.0.%d:18083/api/v5/prometheus/stats%s", ip, query), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	if auth {
		req.SetBasicAuth(testKey, testSecret)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// emqx6-behaviour.md §4: the stats endpoint's auth default by release, mode, formats.
func TestPrometheusStats(t *testing.T) {
	w := newTestWorld(t)
	w.pod("old-0", 1, podOpts{version: "6.2.2"})
	w.pod("new-0", 2, podOpts{version: "6.3.0"})
	w.pod("off-0", 3, podOpts{version: "6.3.0", env: []corev1.EnvVar{{Name: "EMQX_PROMETHEUS__ENABLE_BASIC_AUTH", Value: "false"}}})
	w.pod("on-0", 4, podOpts{version: "5.8.6", conf: "prometheus { enable_basic_auth = true }\n"})

	for _, c := range []struct {
		ip        int
		what      string
		wantsAuth bool
	}{{1, "6.2 default", false}, {2, "6.3 default", true}, {3, "6.3 turned off", false}, {4, "5.8 turned on", true}} {
		anon := w.call(c.ip, "GET", "/api/v5/prometheus/stats", "", "", false)
		if c.wantsAuth {
			wantError(t, anon, 401, "AUTHORIZATION_HEADER_ERROR", "")
			wantError(t, w.callWithKey(c.ip, "GET", "/api/v5/prometheus/stats", "operator", "wrong"), 401, "BAD_API_KEY_OR_SECRET", "")
			// Authentication comes before the query's check.
			wantError(t, w.call(c.ip, "GET", "/api/v5/prometheus/stats?mode=bogus", "", "", false), 401, "AUTHORIZATION_HEADER_ERROR", "")
		} else if anon.status != 200 {
			t.Errorf("%s: without credentials: %d %s, want 200", c.what, anon.status, anon.body)
		}
		ok := w.scrape(c.ip, "", true)
		if ok.status != 200 || ok.header.Get("Content-Type") != "text/plain" || !strings.Contains(string(ok.body), "# TYPE emqx_connections_count gauge\nemqx_connections_count ") {
			t.Errorf("%s: with the key: %d %q %s", c.what, ok.status, ok.header.Get("Content-Type"), ok.body)
		}
	}
	wantError(t, w.get(1, "/api/v5/prometheus/stats?mode=bogus"), 400, "BAD_REQUEST", "")
	unagg := string(w.scrape(1, "?mode=all_nodes_unaggregated", true).body)
	if !strings.Contains(unagg, `emqx_connections_count{node="emqx@old-0.emqx-headless.ns.svc.cluster.local"}`) ||
		!strings.Contains(unagg, "emqx_cluster_nodes_running ") {
		t.Errorf("unaggregated: per-node series carry node, cluster series do not:\n%s", unagg)
	}
	if j := w.get(1, "/api/v5/prometheus/stats").json(t); j["emqx_connections_count"] == nil {
		t.Errorf("Accept: application/json answers JSON: %v", j)
	}
}

// The Stopped fault: a core's EMQX stops on its pod (the others list it stopped, the stats count
// it) and starts again on the same pod, back in its cluster, when the fault is cleared.
func TestStoppedFaultStopsAndRestartsACore(t *testing.T) {
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{})
	b := w.pod("core-1", 2, podOpts{})
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) }, "one cluster")
	if err := w.sim.SetFaults(b, Faults{Stopped: true}); err != nil {
		t.Fatal(err)
	}
	if w.nodeState(b) != "stopped" {
		t.Fatalf("core-1 is %s, want stopped", w.nodeState(b))
	}
	time.Sleep(200 * time.Millisecond) // a pod event meanwhile must not start it again
	if w.nodeState(b) != "stopped" {
		t.Fatalf("core-1 started again while the fault holds it: %s", w.nodeState(b))
	}
	if body := string(w.scrape(1, "", true).body); !strings.Contains(body, "emqx_cluster_nodes_stopped 1") {
		t.Errorf("stats while core-1 is stopped:\n%s", body)
	}
	if err := w.sim.SetFaults(b, Faults{}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(func() bool { return w.nodeState(b) == "running" }, "core-1 running again")
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) }, "core-1 back in its cluster")
}
