package simulator

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gurkankaymak/hocon"

	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

func (h *nodeAPI) evacuationStart(w http.ResponseWriter, r *http.Request) {
	target := r.PathValue("node")
	opts := defaultEvacuationOpts()
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&opts); err != nil && err != io.EOF {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	_, c, unlock := h.lock()
	defer unlock()
	m := h.s.w.nodes[target]
	if m == nil || m.state != running || !c.members[target] {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Node not found: "+target)
		return
	}
	for _, to := range opts.MigrateTo {
		if t := h.s.w.nodes[to]; t == nil || t.state != running || t.evac != nil {
			writeError(w, http.StatusBadRequest, "NOT_FOUND", fmt.Sprintf("Nodes unavailable: ['%s']", to))
			return
		}
	}
	if m.evac != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("error on node '%s': already_started", target))
		return
	}
	m.evac = &evacuation{opts: opts, state: "waiting_health_check", enteredState: time.Now(), initialConnected: m.connections}
	if per := h.s.w.persist[target]; per != nil {
		per.evacuation = &m.evac.opts // kept in <data_dir>/.evacuation
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (h *nodeAPI) evacuationStop(w http.ResponseWriter, r *http.Request) {
	target := r.PathValue("node")
	_, _, unlock := h.lock()
	defer unlock()
	m := h.s.w.nodes[target]
	if m == nil || m.state != running {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Node not found: "+target)
		return
	}
	if m.evac == nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("error on node '%s': not_started", target))
		return
	}
	m.evac = nil
	if per := h.s.w.persist[target]; per != nil {
		per.evacuation = nil
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (h *nodeAPI) rebalanceStatus(w http.ResponseWriter, _ *http.Request) {
	self, _, unlock := h.lock()
	defer unlock()
	if self.evac == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "disabled"})
		return
	}
	st := self.evac.status(self)
	st["status"], st["process"] = "enabled", "evacuation"
	writeJSON(w, http.StatusOK, st)
}

func (h *nodeAPI) globalStatus(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	defer unlock()
	evacs := []map[string]any{}
	for _, m := range h.s.w.runningMembers(c) {
		if m.evac != nil {
			st := m.evac.status(m)
			st["node"] = m.name
			evacs = append(evacs, st)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"evacuations": evacs, "purges": []any{}, "rebalances": []any{}})
}

// readOnlyRoots cannot change at runtime through PUT /configs (emqx_conf_cli).
var readOnlyRoots = []string{"node", "rpc", "cluster"}

func (h *nodeAPI) getConfigs(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	conf := c.config
	unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(conf))
}

// putConfigs applies HOCON cluster-wide; errors are 400 {"errors": ...} without code/message.
func (h *nodeAPI) putConfigs(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	text := string(body)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		text = "" // 6.1+: a JSON body is treated as empty (200, no change)
	}
	parsed, err := parseHOCON(text)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"type": "parse_error", "reason": err.Error()}})
		return
	}
	if bad := schemaError(parsed); bad != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": bad})
		return
	}
	var ro []string
	for _, root := range readOnlyRoots {
		if parsed != nil && parsed.Get(root) != nil && !(root == "cluster" && onlyClusterLinks(parsed)) {
			ro = append(ro, root)
		}
	}
	if len(ro) > 0 && r.URL.Query().Get("ignore_readonly") != "true" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": fmt.Sprintf("Cannot update read-only key '%s'.", strings.Join(ro, ","))})
		return
	}
	self, c, unlock := h.lock()
	defer unlock()
	// license.key is cluster-wide config like any other root: EMQX applies it through the same
	// update as POST /license (emqx_license: post_config_update), so the running licence changes.
	if lic, bad := h.licenseFromConfig(parsed, self, c); bad != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": bad})
		return
	} else if lic != nil {
		c.license = *lic
	}
	if r.URL.Query().Get("mode") == "replace" {
		c.config = text
	} else if strings.TrimSpace(text) != "" {
		c.config = strings.TrimSpace(c.config + "\n" + text)
	}
	w.WriteHeader(http.StatusOK)
}

// licenseFromConfig is the licence a PUT /configs body sets (nil without license.key). A key EMQX
// cannot parse, or a single-node key while more than one node runs, is refused in the shape of
// the config update's other validation errors: how EMQX words this refusal through PUT /configs
// is not in the reference (UNVERIFIED); POST /license's wording is used as the reason.
func (h *nodeAPI) licenseFromConfig(parsed *hocon.Config, self *node, c *cluster) (*License, map[string]any) {
	if parsed == nil || parsed.Get("license.key") == nil {
		return nil, nil
	}
	key := strings.Trim(parsed.GetString("license.key"), `"`)
	refuse := func(reason string) map[string]any {
		return map[string]any{"license": map[string]any{"kind": "validation_error", "path": "license.key", "reason": reason}}
	}
	lic, err := ParseLicense(key, self.version, time.Now())
	if err != nil {
		return nil, refuse(ErrBadLicense.Error())
	}
	if lic.Type == "community" && len(h.s.w.runningMembers(c)) > 1 {
		return nil, refuse("SINGLE_NODE_LICENSE")
	}
	return &lic, nil
}

// logLevels are the values of log.*.level (emqx_conf_schema).
var logLevels = map[string]bool{"debug": true, "info": true, "notice": true, "warning": true, "error": true,
	"critical": true, "alert": true, "emergency": true, "all": true, "none": true}

// schemaError checks the few keys the simulator knows the schema of, answering as EMQX's
// validation does: {"log": {"kind": "validation_error", "path": ..., "reason": ..., "value": ...}}.
func schemaError(c *hocon.Config) map[string]any {
	if c == nil {
		return nil
	}
	for _, path := range []string{"log.console.level", "log.file.default.level"} {
		if v := c.Get(path); v != nil {
			level := strings.Trim(v.String(), `"`)
			if !logLevels[level] {
				return map[string]any{"log": map[string]any{"kind": "validation_error", "path": path,
					"reason": "unable_to_convert_to_enum_symbol", "value": level}}
			}
		}
	}
	if v := c.Get("listeners.tcp.default.max_connections"); v != nil {
		s := strings.Trim(v.String(), `"`)
		if _, err := strconv.Atoi(s); err != nil && s != "infinity" {
			return map[string]any{"listeners": map[string]any{"kind": "validation_error",
				"path": "listeners.tcp.default.max_connections", "reason": "not_an_integer", "value": s}}
		}
	}
	return nil
}

func onlyClusterLinks(c *hocon.Config) bool {
	obj := c.GetObject("cluster")
	for k := range obj {
		if k != "links" {
			return false
		}
	}
	return true
}

func parseHOCON(text string) (*hocon.Config, error) { return emqxconf.Parse(text) }

func (h *nodeAPI) listeners(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	defer unlock()
	var nodeStatus []map[string]any
	var total int64
	for _, m := range h.s.w.runningMembers(c) {
		total += m.connections
		nodeStatus = append(nodeStatus, map[string]any{"node": m.name, "status": map[string]any{
			"running": true, "max_connections": "infinity", "current_connections": m.connections}})
	}
	writeJSON(w, http.StatusOK, []map[string]any{{
		"id": "tcp:default", "type": "tcp", "name": "default", "enable": true, "bind": "0.0.0.0:1883", "acceptors": 16,
		"number": len(nodeStatus), "status": map[string]any{"running": true, "max_connections": "infinity", "current_connections": total},
		"node_status": nodeStatus,
	}})
}

// Backups: an archive is JSON of the cluster's tables and config, named like EMQX's, stored on the
// answering node (its <data_dir>/backup).
type archive struct {
	Meta    map[string]string `json:"meta"`
	Config  string            `json:"config"`
	Records map[string]string `json:"records"`
	APIKeys []apiKey          `json:"api_keys,omitempty"`
}

func (h *nodeAPI) export(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TableSets []string `json:"table_sets"`
		RootKeys  []string `json:"root_keys"`
	}
	if raw, _ := io.ReadAll(r.Body); len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid json message received")
			return
		}
	}
	self, c, unlock := h.lock()
	defer unlock()
	if self.faults.ExportError {
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "Error processing export: {error,enospc}")
		return
	}
	a := archive{Meta: map[string]string{"edition": "ee", "version": self.version}, Config: c.config, Records: c.records}
	// From e5.8.11 API-key callers never get api_keys in an export (maybe_filter_export_params);
	// older releases export them.
	if !apiKeyTablesRestricted(self.version) {
		for _, k := range c.apiKeys {
			a.APIKeys = append(a.APIKeys, k)
		}
		sort.Slice(a.APIKeys, func(i, j int) bool { return a.APIKeys[i].Name < a.APIKeys[j].Name })
	}
	data, _ := json.Marshal(a)
	now := time.Now()
	name := fmt.Sprintf("emqx-export-%s.%03d.tar.gz", now.Format("2006-01-02-15-04-05"), now.Nanosecond()/1e6)
	self.files[name] = data
	writeJSON(w, http.StatusOK, map[string]any{"filename": name, "size": len(data), "node": self.name,
		"created_at": now.Format(time.RFC3339), "created_at_sec": now.Unix()})
}

func (h *nodeAPI) listFiles(w http.ResponseWriter, _ *http.Request) {
	_, c, unlock := h.lock()
	defer unlock()
	files := []map[string]any{}
	for _, m := range h.s.w.runningMembers(c) {
		for f, data := range m.files {
			files = append(files, map[string]any{"filename": f, "size": len(data), "node": m.name})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i]["filename"].(string) > files[j]["filename"].(string) })
	writeJSON(w, http.StatusOK, map[string]any{"data": files, "meta": map[string]any{"page": 1, "limit": 100, "count": len(files), "hasnext": false}})
}

// fileNode resolves ?node= (default: the answering node).
func (h *nodeAPI) fileNode(w http.ResponseWriter, r *http.Request) (*node, bool) {
	name := r.URL.Query().Get("node")
	if name == "" {
		name = h.name
	}
	m := h.s.w.nodes[name]
	if m == nil || m.state != running {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Unknown node: "+name)
		return nil, false
	}
	file := r.PathValue("file")
	if !strings.HasSuffix(file, ".tar.gz") {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid backup name: file name must have .tar.gz extension")
		return nil, false
	}
	return m, true
}

func (h *nodeAPI) download(w http.ResponseWriter, r *http.Request) {
	_, _, unlock := h.lock()
	defer unlock()
	m, ok := h.fileNode(w, r)
	if !ok {
		return
	}
	data, ok := m.files[r.PathValue("file")]
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "backup file not found")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}

func (h *nodeAPI) deleteFile(w http.ResponseWriter, r *http.Request) {
	_, _, unlock := h.lock()
	defer unlock()
	m, ok := h.fileNode(w, r)
	if !ok {
		return
	}
	if _, ok := m.files[r.PathValue("file")]; !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "backup file not found")
		return
	}
	delete(m.files, r.PathValue("file"))
	w.WriteHeader(http.StatusNoContent)
}

func (h *nodeAPI) upload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(64 << 20); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Missing required parameter: filename")
		return
	}
	f, hdr, err := r.FormFile("filename")
	if err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Missing required parameter: filename")
		return
	}
	defer f.Close() //nolint:errcheck
	data, _ := io.ReadAll(f)
	var a archive
	if !strings.HasSuffix(hdr.Filename, ".tar.gz") {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid backup name: file name must have .tar.gz extension")
		return
	}
	if json.Unmarshal(data, &a) != nil || a.Meta["version"] == "" {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "missing_backup_meta")
		return
	}
	self, _, unlock := h.lock()
	defer unlock()
	if _, exists := self.files[hdr.Filename]; exists {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("Backup file %q already exists", hdr.Filename))
		return
	}
	self.files[hdr.Filename] = data
	w.WriteHeader(http.StatusNoContent)
}

// importData merges an archive into the cluster: config applied, records upserted, API keys with
// the same name overwritten and others kept — which is how an import can lock a caller out.
func (h *nodeAPI) importData(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Filename string `json:"filename"`
		Node     string `json:"node"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid json message received")
		return
	}
	self, c, unlock := h.lock()
	defer unlock()
	holder := self
	if body.Node != "" {
		holder = h.s.w.nodes[body.Node]
		if holder == nil || holder.state != running {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Unknown node: "+body.Node)
			return
		}
	}
	data, ok := holder.files[body.Filename]
	if !ok {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "backup file not found")
		return
	}
	var a archive
	if err := json.Unmarshal(data, &a); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "import_failed")
		return
	}
	if len(a.APIKeys) > 0 && apiKeyTablesRestricted(self.version) {
		writeError(w, http.StatusForbidden, "FORBIDDEN", "API key import refused: backup contains restricted tables: api_keys")
		return
	}
	for _, k := range a.APIKeys {
		// mnesia restore with keep_tables: same name overwritten, other records kept.
		c.apiKeys[k.Name] = k
	}
	if a.Config != "" {
		c.config = a.Config
	}
	for k, v := range a.Records {
		c.records[k] = v
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiKeyTablesRestricted: from e5.8.11 (and the 6.x releases after it) API-key callers cannot
// export or import the api_keys table.
func apiKeyTablesRestricted(version string) bool {
	var ma, mi, pa int
	if _, err := fmt.Sscanf(version, "%d.%d.%d", &ma, &mi, &pa); err != nil {
		return true
	}
	return ma > 5 || (ma == 5 && mi > 8) || (ma == 5 && mi == 8 && pa >= 11)
}

// Checksum is the SHA-256 of data, hex-encoded (used by tests comparing archives).
func Checksum(data []byte) string { return fmt.Sprintf("%x", sha256.Sum256(data)) }
