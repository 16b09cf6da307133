package simulator

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gurkankaymak/hocon"

	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// Prometheus stats (reference: emqx6-behaviour.md §4, emqx_prometheus_api / emqx_prometheus).

// promModes are the stats endpoint's `mode` values (?PROM_DATA_MODES); "" is node.
var promModes = map[string]bool{"": true, "node": true, "all_nodes_aggregated": true, "all_nodes_unaggregated": true}

// readPromBasicAuth: prometheus.enable_basic_auth from the environment (EMQX_ variables win) or
// emqx.conf; without it the release's default: off before 6.3, on from 6.3 (breaking-17437).
// It is read at start: whether a runtime change takes effect without a listener restart is
// UNVERIFIED, so the simulator keeps the value a node booted with.
func readPromBasicAuth(version string, env map[string]string, conf *hocon.Config) bool {
	v, ok := env["EMQX_PROMETHEUS__ENABLE_BASIC_AUTH"]
	if !ok && conf != nil {
		if cv, _ := emqxconf.Lookup(conf, "prometheus.enable_basic_auth"); cv != nil {
			v, ok = cv.String(), true
		}
	}
	if b, err := strconv.ParseBool(strings.Trim(strings.TrimSpace(v), `"`)); ok && err == nil {
		return b
	}
	return atLeast(version, 6, 3)
}

// prometheusStats: GET /api/v5/prometheus/stats. Authentication comes before the query's
// schema check (minirest's order), and only when basic auth is enabled (security => []
// otherwise, so any or no Authorization header passes).
func (h *nodeAPI) prometheusStats(w http.ResponseWriter, r *http.Request) {
	n, _, unlock := h.lock()
	needsAuth := n != nil && n.promBasicAuth
	unlock()
	serve := func(w http.ResponseWriter, r *http.Request) {
		mode := r.URL.Query().Get("mode")
		if !promModes[mode] {
			// The enum's message is UNVERIFIED; the code is minirest's schema failure.
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("mode: %q is not one of node, all_nodes_aggregated, all_nodes_unaggregated", mode))
			return
		}
		h.writeStats(w, r, mode)
	}
	if needsAuth {
		h.auth(serve)(w, r)
		return
	}
	serve(w, r)
}

// statSeries is one sample of the exposition.
type statSeries struct {
	name, typ, node string // node: "" unless mode is all_nodes_unaggregated
	value           float64
}

func (h *nodeAPI) writeStats(w http.ResponseWriter, r *http.Request, mode string) {
	self, c, unlock := h.lock()
	if self == nil || c == nil {
		unlock()
		h.notFound(w, r)
		return
	}
	members := h.s.w.members(c)
	var up []*node
	stopped := 0
	for _, m := range members {
		if m.state == running {
			up = append(up, m)
		} else if m.role == "core" {
			stopped++
		}
	}
	perNode := func(n *node, label string) []statSeries {
		return []statSeries{
			{"emqx_connections_count", "gauge", label, float64(n.connections)},
			{"emqx_live_connections_count", "gauge", label, float64(n.connections)},
			{"emqx_sessions_count", "gauge", label, float64(n.connections)},
			{"emqx_messages_received", "counter", label, 0},
			{"emqx_messages_dropped", "counter", label, 0},
			{"emqx_vm_cpu_use", "gauge", label, 1},
		}
	}
	var series []statSeries
	switch mode {
	case "all_nodes_unaggregated":
		for _, m := range up {
			series = append(series, perNode(m, m.name)...)
		}
	case "all_nodes_aggregated":
		sums := map[string]statSeries{}
		for _, m := range up {
			for _, s := range perNode(m, "") {
				t := sums[s.name]
				t.name, t.typ, t.value = s.name, s.typ, t.value+s.value
				sums[s.name] = t
			}
		}
		for _, s := range sums {
			series = append(series, s)
		}
	default:
		series = perNode(self, "")
	}
	series = append(series,
		statSeries{"emqx_cluster_nodes_running", "gauge", "", float64(len(up))},
		statSeries{"emqx_cluster_nodes_stopped", "gauge", "", float64(stopped)})
	if t, err := time.Parse("2006-01-02", c.license.ExpiryAt); err == nil {
		series = append(series, statSeries{"emqx_license_expiry_at", "gauge", "", float64(t.Unix())})
	}
	unlock()

	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		out := map[string]any{}
		for _, s := range series {
			out[s.name] = s.value
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	sort.SliceStable(series, func(i, j int) bool { return series[i].name < series[j].name })
	var b strings.Builder
	typed := map[string]bool{}
	for _, s := range series {
		if !typed[s.name] {
			fmt.Fprintf(&b, "# TYPE %s %s\n", s.name, s.typ)
			typed[s.name] = true
		}
		if s.node != "" {
			fmt.Fprintf(&b, "%s{node=%q} %s\n", s.name, s.node, strconv.FormatFloat(s.value, 'f', -1, 64))
		} else {
			fmt.Fprintf(&b, "%s %s\n", s.name, strconv.FormatFloat(s.value, 'f', -1, 64))
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}
