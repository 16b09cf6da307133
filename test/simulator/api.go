package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// api serves one node's HTTP API. Every request looks the node up again, so a node that was
// replaced, stopped or changed is answered for as it is now.
func (s *Simulator) api(name, podUID string) http.Handler {
	mux := http.NewServeMux()
	h := &nodeAPI{s: s, name: name}
	mux.HandleFunc("/status", h.status)
	mux.HandleFunc("GET /api/v5/status", h.status)
	mux.HandleFunc("GET /api/v5/load_rebalance/availability_check", h.availability)
	mux.HandleFunc("GET /api/v5/nodes", h.auth(h.nodes))
	mux.HandleFunc("GET /api/v5/prometheus/stats", h.prometheusStats)
	mux.HandleFunc("GET /api/v5/nodes/{node}", h.auth(h.nodeByName))
	mux.HandleFunc("GET /api/v5/cluster", h.auth(h.cluster))
	mux.HandleFunc("PUT /api/v5/cluster/{node}/invite", h.auth(h.invite))
	mux.HandleFunc("DELETE /api/v5/cluster/{node}/force_leave", h.auth(h.forceLeave))
	mux.HandleFunc("GET /api/v5/license", h.auth(h.getLicense))
	mux.HandleFunc("POST /api/v5/license", h.auth(h.postLicense))
	mux.HandleFunc("POST /api/v5/load_rebalance/{node}/evacuation/start", h.auth(h.evacuationStart))
	mux.HandleFunc("POST /api/v5/load_rebalance/{node}/evacuation/stop", h.auth(h.evacuationStop))
	mux.HandleFunc("GET /api/v5/load_rebalance/status", h.auth(h.rebalanceStatus))
	mux.HandleFunc("GET /api/v5/load_rebalance/global_status", h.auth(h.globalStatus))
	mux.HandleFunc("GET /api/v5/configs", h.auth(h.getConfigs))
	mux.HandleFunc("PUT /api/v5/configs", h.auth(h.putConfigs))
	mux.HandleFunc("GET /api/v5/listeners", h.auth(h.listeners))
	mux.HandleFunc("POST /api/v5/data/export", h.auth(h.export))
	mux.HandleFunc("GET /api/v5/data/files", h.auth(h.listFiles))
	mux.HandleFunc("GET /api/v5/data/files/{file}", h.auth(h.download))
	mux.HandleFunc("DELETE /api/v5/data/files/{file}", h.auth(h.deleteFile))
	mux.HandleFunc("POST /api/v5/data/files", h.auth(h.upload))
	mux.HandleFunc("POST /api/v5/data/import", h.auth(h.importData))
	h.dsRoutes(mux)
	h.pluginRoutes(mux)
	mux.HandleFunc("/", h.notFound)
	return s.faulty(name, podUID, mux)
}

// faulty applies the node's injected faults and records every call.
func (s *Simulator) faulty(name, podUID string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.w.mu.Lock()
		n := s.w.nodes[name]
		var f Faults
		if n != nil && n.podUID == podUID {
			f = n.faults
		}
		s.w.mu.Unlock()
		if f.Unresponsive {
			select { // hang like a stuck node until the client gives up
			case <-r.Context().Done():
			case <-time.After(5 * time.Minute):
			}
			return
		}
		if f.Delay > 0 {
			time.Sleep(f.Delay)
		}
		rec := &recorder{ResponseWriter: w, status: 200}
		var body []byte
		if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) && !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if f.ServerError && r.URL.Path != "/status" {
			writeError(rec, 500, "INTERNAL_ERROR", "simulated failure")
		} else {
			next.ServeHTTP(rec, r)
		}
		local := ""
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			local = a.String()
		}
		s.record(Call{Time: time.Now(), Node: name, Method: r.Method, Path: r.URL.Path, Status: rec.status,
			Body: redactBody(r.URL.Path, body), Local: local, Remote: r.RemoteAddr})
	})
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

type nodeAPI struct {
	s    *Simulator
	name string
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, code, map[string]string{"code": errCode, "message": msg})
}

// lock returns the answering node and its cluster with the world locked; call the returned unlock.
func (h *nodeAPI) lock() (*node, *cluster, func()) {
	h.s.w.mu.Lock()
	n := h.s.w.nodes[h.name]
	var c *cluster
	if n != nil {
		c = h.s.w.clusterOf(n)
	}
	return n, c, h.s.w.mu.Unlock
}

// status: 200 when running, 503 otherwise; retry-after on every answer (emqx_mgmt_api_status).
func (h *nodeAPI) status(w http.ResponseWriter, r *http.Request) {
	n, c, unlock := h.lock()
	healthy := n != nil && n.state == running && !n.faults.Unhealthy
	name := h.name
	clusterName := "emqxcl"
	_ = c
	unlock()
	w.Header().Set("retry-after", "15")
	appStatus, code := "running", http.StatusOK
	if !healthy {
		appStatus, code = "not_running", http.StatusServiceUnavailable
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, code, map[string]string{"node_name": name, "cluster": clusterName, "broker_status": "started", "app_status": appStatus})
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(code)
	fmt.Fprintf(w, "Node %s is started\nemqx is %s", name, appStatus)
}

// availability: no auth; 503 NODE_EVACUATING while the eviction agent is enabled.
func (h *nodeAPI) availability(w http.ResponseWriter, _ *http.Request) {
	n, _, unlock := h.lock()
	evacuating := n != nil && n.evac != nil
	unlock()
	if evacuating {
		writeError(w, http.StatusServiceUnavailable, "NODE_EVACUATING", "Node Evacuating")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// auth checks HTTP Basic API-key credentials against the cluster's API-key table.
func (h *nodeAPI) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, secret, ok := r.BasicAuth()
		w.Header().Set("WWW-Authenticate", `Basic Realm="emqx-dashboard"`)
		if !ok {
			writeError(w, http.StatusUnauthorized, "AUTHORIZATION_HEADER_ERROR", "Support authorization: basic/bearer ")
			return
		}
		_, c, unlock := h.lock()
		good := false
		if c != nil {
			for _, k := range c.apiKeys {
				if k.Key == key && k.Secret == secret {
					good = true
				}
			}
		}
		unlock()
		if !good {
			writeError(w, http.StatusUnauthorized, "BAD_API_KEY_OR_SECRET", "Check api_key/api_secret")
			return
		}
		w.Header().Del("WWW-Authenticate")
		next(w, r)
	}
}

func (h *nodeAPI) notFound(w http.ResponseWriter, r *http.Request) {
	switch accept := r.Header.Get("Accept"); {
	case strings.Contains(accept, "application/json"):
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Request Path Not Found")
	case strings.Contains(accept, "text/plain"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 - NOT FOUND"))
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body><h1>404 - NOT FOUND</h1></body></html>"))
	}
}

// nodeInfo is the running-node object of GET /nodes.
func nodeInfo(n *node) map[string]any {
	return map[string]any{
		"node": n.name, "node_status": "running", "role": n.role, "version": n.version, "edition": edition(n.version),
		"uptime": time.Since(n.startedAt).Milliseconds(), "connections": n.connections, "live_connections": n.connections,
		"cluster_sessions": n.connections, "load1": 0.1, "load5": 0.1, "load15": 0.1, "max_fds": 1048576,
		"memory_total": "2.00G", "memory_used": "512.00M", "otp_release": "26.2.5-3/14.2.5",
		"process_available": 2097152, "process_used": 600, "sys_path": "/opt/emqx", "log_path": "/opt/emqx/log",
	}
}

func edition(version string) string {
	return "Enterprise"
}

// nodes: running members ++ stopped cores (three keys); stopped replicants never appear.
func (h *nodeAPI) nodes(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	var out []map[string]any
	for _, m := range h.s.w.members(c) {
		switch {
		case m.state == running && !m.faults.Unresponsive:
			out = append(out, nodeInfo(m))
		case m.state == stopped && m.role == "core":
			out = append(out, map[string]any{"node": m.name, "node_status": "stopped", "role": "core"})
		}
	}
	unlock()
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *nodeAPI) nodeByName(w http.ResponseWriter, r *http.Request) {
	target := r.PathValue("node")
	_, c, unlock := h.lock()
	m := h.s.w.nodes[target]
	if m == nil || m.state != running || !c.members[target] {
		unlock()
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Node not found: "+target)
		return
	}
	info := nodeInfo(m)
	unlock()
	writeJSON(w, http.StatusOK, info)
}

func (h *nodeAPI) cluster(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	names := []string{}
	for _, m := range h.s.w.runningMembers(c) {
		names = append(names, m.name)
	}
	unlock()
	writeJSON(w, http.StatusOK, map[string]any{"name": "emqxcl", "nodes": names, "self": h.name})
}

// invite makes the target node join the cluster of the node answering the request.
func (h *nodeAPI) invite(w http.ResponseWriter, r *http.Request) {
	target := r.PathValue("node")
	if strings.Count(target, "@") != 1 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "node: bad node name")
		return
	}
	var body struct {
		Timeout *json.RawMessage `json:"timeout"`
	}
	if raw, _ := io.ReadAll(r.Body); len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid json message received")
			return
		}
		if body.Timeout != nil {
			var ms int64
			if json.Unmarshal(*body.Timeout, &ms) != nil {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "timeout must be an integer")
				return
			}
			if ms < 5000 {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "timeout cannot be less than 5000ms")
				return
			}
		}
	}
	self, c, unlock := h.lock()
	defer unlock()
	m := h.s.w.nodes[target]
	switch {
	case target == h.name:
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Cannot invite self")
	case m == nil || m.state != running || m.cookie != self.cookie:
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "nodedown")
	case self.role == "replicant":
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("{cannot_join_to_replicant,'%s'}", h.name))
	case c.members[target]:
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("{already_in_cluster,'%s'}", h.name))
	default:
		if reason := h.s.joinRefusal(m, c); reason != "" {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", reason)
			return
		}
		h.s.w.join(m, c)
		h.s.licenceAppStarts(m, time.Now())
		w.WriteHeader(http.StatusOK)
	}
}

// forceLeave removes a node from the cluster: 204 for a stopped or running core, 400 for self and
// for unknown or stopped replicants (never 404).
func (h *nodeAPI) forceLeave(w http.ResponseWriter, r *http.Request) {
	target := r.PathValue("node")
	_, c, unlock := h.lock()
	defer unlock()
	h.s.w.dsSync(c, time.Now()) // DS transitions due while the node was a member run first
	m := h.s.w.nodes[target]
	switch {
	case target == h.name:
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Can't leave self")
	case m == nil || !c.members[target]:
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "node_not_in_cluster")
	case m.state == stopped:
		delete(c.members, target)
		delete(h.s.w.nodes, target)
		delete(h.s.w.persist, target)
		w.WriteHeader(http.StatusNoContent)
	default:
		h.s.w.leave(m)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *nodeAPI) getLicense(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	lic := c.license
	unlock()
	writeJSON(w, http.StatusOK, lic)
}

func (h *nodeAPI) postLicense(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "content-type:application/json Required")
		return
	}
	var body struct {
		Key *string `json:"key"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid json message received")
		return
	}
	if body.Key == nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid request params")
		return
	}
	self, c, unlock := h.lock()
	defer unlock()
	lic, err := ParseLicense(*body.Key, self.version, time.Now())
	if err != nil {
		msg := "Bad license key"
		if atLeast(self.version, 5, 9) {
			msg = "Bad license key, see logs for more details"
		}
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", msg)
		return
	}
	if lic.Type == "community" && len(h.s.w.runningMembers(c)) > 1 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "SINGLE_NODE_LICENSE")
		return
	}
	c.license = lic
	writeJSON(w, http.StatusOK, lic)
}

// redactBody keeps call bodies for tests, except licence keys' text (long and uninteresting).
func redactBody(path string, body []byte) string {
	if len(body) > 4096 {
		return string(body[:4096])
	}
	return string(body)
}
