package emqxapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRouteTemplate(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v5/nodes":                                        "/api/v5/nodes",
		"/api/v5/cluster/emqx@10.0.0.1/invite":                 "/api/v5/cluster/{node}/invite",
		"/api/v5/load_rebalance/global_status":                 "/api/v5/load_rebalance/global_status",
		"/api/v5/load_rebalance/emqx@a.b/evacuation/start":     "/api/v5/load_rebalance/{node}/evacuation/start",
		"/api/v5/configs?mode=merge&ignore_readonly=true":      "/api/v5/configs",
		"/api/v5/ds/storages/messages/replicas":                "/api/v5/ds/storages/{db}/replicas",
		"/api/v5/plugins/install":                              "/api/v5/plugins/install",
		"/api/v5/plugins/cluster_sync":                         "/api/v5/plugins/cluster_sync",
		"/api/v5/plugins/emqx_auth-1.0.0":                      "/api/v5/plugins/{name_vsn}",
		"/api/v5/plugins/emqx_auth-1.0.0/config":               "/api/v5/plugins/{name_vsn}/config",
		"/api/v5/data/files/emqx-export-2026.tar.gz?node=emqx": "/api/v5/data/files/{filename}",
		"/api/v4/listeners/mqtt%3Assl%3Aexternal/restart":      "/api/v4/listeners/{listener}/restart",
		"/api/v5/plugins//config":                              "other",
		"/api/v5/something/new":                                "other",
		"/":                                                    "other",
	} {
		if got := RouteTemplate(path); got != want {
			t.Errorf("RouteTemplate(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRequestsAreCountedByRouteAndResult(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v5/license" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	c := New(srv.URL, Credentials{Key: "k", Secret: "s"}, nil)
	ok := Requests.WithLabelValues("/api/v5/nodes", http.MethodGet, "2xx")
	failed := Requests.WithLabelValues("/api/v5/license", http.MethodGet, "5xx")
	okBefore, failedBefore := testutil.ToFloat64(ok), testutil.ToFloat64(failed)

	if _, err := c.Nodes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.License(context.Background()); err == nil {
		t.Fatal("want an error for a 503")
	}
	if got := testutil.ToFloat64(ok) - okBefore; got != 1 {
		t.Errorf("nodes 2xx counted %v times, want 1", got)
	}
	if got := testutil.ToFloat64(failed) - failedBefore; got != 1 {
		t.Errorf("license 5xx counted %v times, want 1", got)
	}
}
