package simulator

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeView is a node as the control API shows it.
type NodeView struct {
	Name        string `json:"name"`
	Pod         string `json:"pod"`
	IP          string `json:"ip"`
	Role        string `json:"role"`
	Version     string `json:"version"`
	State       string `json:"state"`
	Cluster     int    `json:"cluster"`
	Connections int64  `json:"connections"`
	Evacuation  string `json:"evacuation,omitempty"`
	Faults      Faults `json:"faults"`
	APIKeys     int    `json:"apiKeys"`
	License     string `json:"license"`
	// DSSite is the node's durable-storage site (EMQX Enterprise 5.9+, 6.x); DSUnclaimed: the
	// node runs without its site registered, because its cluster maps another site to its name.
	DSSite      string `json:"dsSite,omitempty"`
	DSUnclaimed bool   `json:"dsUnclaimed,omitempty"`
}

// ControlHandler is the test-facing API (serve it on loopback only):
//
//	GET  /sim/nodes                       every node, running or stopped
//	PUT  /sim/nodes/{node}/connections    {"connections": N}
//	PUT  /sim/nodes/{node}/faults         Faults
//	GET  /sim/nodes/{node}/data           the node's cluster data: {"records": {..}, "apiKeys": [names]}
//	PUT  /sim/nodes/{node}/data           {"records": {..}}: replace the cluster's records
//	GET  /sim/nodes/{node}/ds             the durable storage of the node's cluster (DSState)
//	POST /sim/nodes/{node}/ctl            {"args": ["plugins", "allow", ...]}: run `emqx ctl` on
//	                                      the node → {"output": ..., "exitCode": N} (CtlResult)
//	GET  /sim/calls                       API calls the nodes answered (the last 5,000)
//	GET  /sim/calls/count                 {"total": N}: every REST API call answered since the start
//	GET  /healthz
func (s *Simulator) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /sim/nodes", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.Nodes()) })
	mux.HandleFunc("PUT /sim/nodes/{node}/connections", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Connections int64 `json:"connections"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeError(w, 400, "BAD_REQUEST", err.Error())
			return
		}
		s.w.mu.Lock()
		defer s.w.mu.Unlock()
		n := s.w.nodes[r.PathValue("node")]
		if n == nil || n.state != running {
			writeError(w, 404, "NOT_FOUND", "no running node "+r.PathValue("node"))
			return
		}
		n.connections = body.Connections
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /sim/nodes/{node}/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			writeError(w, 400, "BAD_REQUEST", err.Error())
			return
		}
		if err := s.SetFaults(r.PathValue("node"), f); err != nil {
			writeError(w, 404, "NOT_FOUND", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /sim/nodes/{node}/data", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Data(r.PathValue("node"))
		if err != nil {
			writeError(w, 404, "NOT_FOUND", err.Error())
			return
		}
		writeJSON(w, 200, d)
	})
	mux.HandleFunc("GET /sim/nodes/{node}/ds", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.DS(r.PathValue("node"))
		if err != nil {
			writeError(w, 404, "NOT_FOUND", err.Error())
			return
		}
		writeJSON(w, 200, d)
	})
	mux.HandleFunc("PUT /sim/nodes/{node}/data", func(w http.ResponseWriter, r *http.Request) {
		var d ClusterData
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			writeError(w, 400, "BAD_REQUEST", err.Error())
			return
		}
		if err := s.SetRecords(r.PathValue("node"), d.Records); err != nil {
			writeError(w, 404, "NOT_FOUND", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /sim/nodes/{node}/ctl", s.ctlHandler)
	mux.HandleFunc("GET /sim/calls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, s.Calls())
	})
	mux.HandleFunc("GET /sim/calls/count", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]int64{"total": s.CallCount()})
	})
	return mux
}

// Nodes lists every node.
func (s *Simulator) Nodes() []NodeView {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	now := time.Now()
	for _, c := range s.w.clusters {
		s.w.dsSync(c, now) // claims are lazy: bring them up to date before they are shown
	}
	var out []NodeView
	for _, n := range s.w.nodes {
		v := NodeView{Name: n.name, Pod: n.podKey, IP: n.ip, Role: n.role, Version: n.version,
			State: [...]string{"booting", "running", "stopped"}[n.state], Cluster: n.clusterID,
			Connections: n.connections, Faults: n.faults, DSSite: n.site, DSUnclaimed: s.w.unclaimed(n)}
		if n.evac != nil {
			v.Evacuation = n.evac.state
		}
		if c := s.w.clusterOf(n); c != nil {
			v.APIKeys, v.License = len(c.apiKeys), c.license.Customer
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetFaults switches a node's faults; an unhealthy node's pod turns unready through its annotation.
// Faults for a node that does not exist yet apply when it starts.
func (s *Simulator) SetFaults(name string, f Faults) error {
	s.w.mu.Lock()
	n := s.w.nodes[name]
	if n == nil {
		s.w.pendingFaults[name] = f
		s.w.mu.Unlock()
		return nil
	}
	wasStopped := n.faults.Stopped
	n.faults = f
	pod, state, uid := n.podKey, n.state, n.podUID
	if f.Stopped && !wasStopped {
		n.crashed = true // the container's process ended; the pod stays
	}
	s.w.mu.Unlock()
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	switch {
	case f.Stopped && !wasStopped:
		s.stopNode(uid)
		s.annotateKey(ctx, pod, uid, AnnotationReady, "false")
		return nil
	case !f.Stopped && wasStopped:
		ns, name, _ := strings.Cut(pod, "/")
		p, err := s.kc.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.serversMu.Lock()
		runCtx := s.runCtx
		s.serversMu.Unlock()
		if runCtx == nil {
			return fmt.Errorf("the simulator is not running")
		}
		s.startNode(runCtx, p)
		return nil
	}
	if state == running {
		s.annotateKey(ctx, pod, uid, AnnotationReady, boolString(!f.Unhealthy))
	}
	return nil
}

// ClusterData is what a cluster holds that a backup carries: its records (the tables: retained
// messages, authn users, ...) and the names of its API keys.
type ClusterData struct {
	Records map[string]string `json:"records"`
	APIKeys []string          `json:"apiKeys,omitempty"`
}

// Data is the data of the cluster node belongs to.
func (s *Simulator) Data(node string) (ClusterData, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	n := s.w.nodes[node]
	if n == nil || s.w.clusterOf(n) == nil {
		return ClusterData{}, fmt.Errorf("no node %s", node)
	}
	c := s.w.clusterOf(n)
	d := ClusterData{Records: maps.Clone(c.records)}
	for name := range c.apiKeys {
		d.APIKeys = append(d.APIKeys, name)
	}
	sort.Strings(d.APIKeys)
	return d, nil
}

// SetRecords replaces the records of the cluster node belongs to.
func (s *Simulator) SetRecords(node string, records map[string]string) error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	n := s.w.nodes[node]
	if n == nil || s.w.clusterOf(n) == nil {
		return fmt.Errorf("no node %s", node)
	}
	c := s.w.clusterOf(n)
	c.records = maps.Clone(records)
	if c.records == nil {
		c.records = map[string]string{}
	}
	return nil
}

// DSState is a cluster's durable storage as the test rig sees it (not an EMQX endpoint): each site's
// node and status, and each DB's shards with their current and target replica sets.
type DSState struct {
	Sites map[string]DSSiteState `json:"sites"`
	DBs   []DSDBState            `json:"dbs"`
}

// DSSiteState is one site: its node and status (up, down, lost).
type DSSiteState struct {
	Node   string `json:"node"`
	Status string `json:"status"`
}

// DSDBState is one DB's shards.
type DSDBState struct {
	Name   string         `json:"name"`
	Shards []DSShardState `json:"shards"`
}

// DSShardState is one shard's current and target replica sets.
type DSShardState struct {
	ID      string   `json:"id"`
	Current []string `json:"current"`
	Target  []string `json:"target"`
}

// DS is the durable storage of the cluster node belongs to, in the view of node's major release,
// brought up to now first.
func (s *Simulator) DS(node string) (DSState, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	n := s.w.nodes[node]
	if n == nil || s.w.clusterOf(n) == nil {
		return DSState{}, fmt.Errorf("no node %s", node)
	}
	c := s.w.clusterOf(n)
	s.w.dsSync(c, time.Now())
	out := DSState{Sites: map[string]DSSiteState{}}
	v := c.ds[majorOf(n.version)]
	if v == nil {
		return out, nil
	}
	for site, name := range v.sites {
		out.Sites[site] = DSSiteState{Node: name, Status: s.w.siteStatus(c, v, site)}
	}
	for _, name := range v.dbNames() {
		db := DSDBState{Name: name}
		for _, sh := range v.dbs[name].shardList() {
			db.Shards = append(db.Shards, DSShardState{ID: sh.id, Current: slices.Clone(sh.current), Target: slices.Clone(sh.target)})
		}
		out.DBs = append(out.DBs, db)
	}
	return out, nil
}
