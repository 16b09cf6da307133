package emqxapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Requests counts the calls this client makes, by route template (never the raw path: node,
// plugin and file names would make one series per value), method and result ("2xx", "4xx",
// "5xx", or "error" when no answer came). The manager registers it with its metrics registry.
var Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "emqx_operator_emqx_api_requests_total",
	Help: "Calls to EMQX's REST API, by route template, method and result (2xx, 4xx, 5xx, error).",
}, []string{"route", "method", "result"})

// routeTemplates are the paths this client calls. Literal segments come before a parameter at the
// same position ("plugins/install" before "plugins/{name_vsn}"), so the first match is the right one.
var routeTemplates = splitTemplates(
	"/api/v5/nodes",
	"/api/v5/cluster/{node}/invite",
	"/api/v5/cluster/{node}/force_leave",
	"/api/v5/load_rebalance/global_status",
	"/api/v5/load_rebalance/{node}/evacuation/start",
	"/api/v5/load_rebalance/{node}/evacuation/stop",
	"/api/v5/configs",
	"/api/v5/ds/sites",
	"/api/v5/ds/sites/{site}",
	"/api/v5/ds/sites/{site}/forget",
	"/api/v5/ds/storages",
	"/api/v5/ds/storages/{db}",
	"/api/v5/ds/storages/{db}/replicas",
	"/api/v5/license",
	"/api/v5/plugins",
	"/api/v5/plugins/install",
	"/api/v5/plugins/cluster_sync",
	"/api/v5/plugins/{name_vsn}",
	"/api/v5/plugins/{name_vsn}/start",
	"/api/v5/plugins/{name_vsn}/stop",
	"/api/v5/plugins/{name_vsn}/move",
	"/api/v5/plugins/{name_vsn}/config",
	"/api/v5/data/export",
	"/api/v5/data/import",
	"/api/v5/data/files",
	"/api/v5/data/files/{filename}",
	"/api/v5/prometheus/stats",
	"/api/v4/nodes",
	"/api/v4/license/upload",
	"/api/v4/listeners/{listener}/restart",
)

type routeTemplate struct {
	name     string
	segments []string
}

func splitTemplates(paths ...string) []routeTemplate {
	out := make([]routeTemplate, len(paths))
	for i, p := range paths {
		out[i] = routeTemplate{name: p, segments: strings.Split(p, "/")}
	}
	return out
}

// RouteTemplate names the route a concrete request path belongs to ("other" for a path this
// client does not know, which keeps the metric's label values a fixed set).
func RouteTemplate(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	segments := strings.Split(path, "/")
next:
	for _, t := range routeTemplates {
		if len(t.segments) != len(segments) {
			continue
		}
		for i, s := range t.segments {
			param := strings.HasPrefix(s, "{")
			if (param && segments[i] == "") || (!param && s != segments[i]) {
				continue next
			}
		}
		return t.name
	}
	return "other"
}

// countRequest records one call: status is the HTTP status, 0 when err says no answer came.
func countRequest(method, path string, status int, err error) {
	result := "error"
	if err == nil {
		result = strconv.Itoa(status/100) + "xx"
	}
	Requests.WithLabelValues(RouteTemplate(path), method, result).Inc()
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func readLimited(resp *http.Response, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}
