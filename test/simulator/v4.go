package simulator

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// EMQX 4.4 nodes (images emqx/emqx-ee:4.x, emqx/emqx:4.x), as the seed article runs them: every
// node is a core, the management API is on port 8081 under /api/v4 with an application id and
// secret (EMQX_MANAGEMENT__DEFAULT_APPLICATION__ID / __SECRET, default admin/public), every JSON
// answer carries {"code": 0, "data": ...}, and GET /status on 8081 is the health check
// (emqx-rest-api.md, "EMQX 4.4"). The licence comes from the file EMQX_LICENSE__FILE names.

// ManagementPortV4 is EMQX 4's management API port.
const ManagementPortV4 = 8081

// isV4 reports whether an EMQX release is 4.x.
func isV4(version string) bool { return strings.HasPrefix(version, "4.") }

// v4Management reads the default application's credentials from the node's environment.
func v4Management(env map[string]string) (id, secret string) {
	unquote := func(s string) string { return strings.Trim(s, `"`) }
	id, secret = unquote(env["EMQX_MANAGEMENT__DEFAULT_APPLICATION__ID"]), unquote(env["EMQX_MANAGEMENT__DEFAULT_APPLICATION__SECRET"])
	if id == "" {
		id = "admin"
	}
	if secret == "" {
		secret = "public"
	}
	return id, secret
}

// apiV4 serves one EMQX 4 node's management API.
func (s *Simulator) apiV4(name, podUID string) http.Handler {
	mux := http.NewServeMux()
	h := &nodeAPI{s: s, name: name}
	mux.HandleFunc("/status", h.status)
	mux.HandleFunc("GET /api/v4/nodes", h.authV4(h.nodesV4))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Not Found"})
	})
	return s.faulty(name, podUID, mux)
}

// authV4 checks HTTP Basic against the node's default application (401 otherwise).
func (h *nodeAPI) authV4(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		n, _, unlock := h.lock()
		good := ok && n != nil && id == n.mgmtID && secret == n.mgmtSecret
		unlock()
		if !good {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 106, "message": "Auth Failed"})
			return
		}
		next(w, r)
	}
}

// nodesV4: GET /api/v4/nodes, the running members of the node's cluster.
func (h *nodeAPI) nodesV4(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	out := []map[string]any{}
	for _, m := range h.s.w.members(c) {
		if m.state != running || m.faults.Unresponsive {
			continue
		}
		out = append(out, map[string]any{"node": m.name, "node_status": "Running", "version": m.version,
			"otp_release": "R21/10.3.4", "connections": m.connections,
			"uptime": fmt.Sprintf("%d seconds", int(time.Since(m.startedAt).Seconds()))})
	}
	unlock()
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "data": out})
}
