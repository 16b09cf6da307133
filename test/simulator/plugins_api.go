package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The plugin REST API (emqx6-behaviour.md §5, trap 16), authenticated like every endpoint.
// Messages the reference does not quote are the simulator's own wording.
func (h *nodeAPI) pluginRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v5/plugins", h.auth(h.listPlugins))
	mux.HandleFunc("POST /api/v5/plugins/install", h.auth(h.installPlugin))
	mux.HandleFunc("POST /api/v5/plugins/cluster_sync", h.auth(h.syncPlugin))
	mux.HandleFunc("GET /api/v5/plugins/{nv}", h.auth(h.getPlugin))
	mux.HandleFunc("DELETE /api/v5/plugins/{nv}", h.auth(h.deletePlugin))
	mux.HandleFunc("PUT /api/v5/plugins/{nv}/start", h.auth(h.startPlugin))
	mux.HandleFunc("PUT /api/v5/plugins/{nv}/stop", h.auth(h.stopPlugin))
	mux.HandleFunc("GET /api/v5/plugins/{nv}/config", h.auth(h.getPluginConfig))
	mux.HandleFunc("PUT /api/v5/plugins/{nv}/config", h.auth(h.putPluginConfig))
	mux.HandleFunc("POST /api/v5/plugins/{nv}/move", h.auth(h.movePlugin))
}

func pluginNotFound(w http.ResponseWriter, nv string) {
	writeError(w, http.StatusNotFound, "NOT_FOUND", "Plugin Not Found: "+nv)
}

func (h *nodeAPI) listPlugins(w http.ResponseWriter, _ *http.Request) {
	self, c, unlock := h.lock()
	out := []map[string]any{}
	for _, nv := range h.s.w.pluginNames(c) {
		out = append(out, h.s.w.pluginInfo(c, self, nv))
	}
	unlock()
	writeJSON(w, http.StatusOK, out)
}

// getPlugin describes nv as the running nodes that have it do; 404 when none has it.
func (h *nodeAPI) getPlugin(w http.ResponseWriter, r *http.Request) {
	nv := r.PathValue("nv")
	self, c, unlock := h.lock()
	defer unlock()
	if len(h.s.w.pluginHolders(c, nv)) == 0 {
		pluginNotFound(w, nv)
		return
	}
	writeJSON(w, http.StatusOK, h.s.w.pluginInfo(c, self, nv))
}

// installPlugin checks the form, the file name, the allow grant (5.9+), then whether the receiving
// node has the package, then the package itself; it then pushes the package to every running node
// (replicants too), records it disabled, gives it the package's default config unless the cluster
// has one, and revokes the grant (forget_allow_after_install/2).
func (h *nodeAPI) installPlugin(w http.ResponseWriter, r *http.Request) {
	data, fileName, ok := pluginUpload(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "BAD_FORM_DATA",
			"form-data should be `plugin=@packagename-vsn.tar.gz;type=application/x-gzip`")
		return
	}
	if !validPluginFileName(fileName) {
		writeError(w, http.StatusBadRequest, "BAD_PLUGIN_INFO", "Bad plugin file name: "+fileName)
		return
	}
	nv := nameVsnOfFile(fileName)
	self, c, unlock := h.lock()
	defer unlock()
	now := time.Now()
	if pluginAllowNeeded(self.version) {
		g, granted := c.plugins.grant(nv, now)
		if !granted {
			writeError(w, http.StatusForbidden, "FORBIDDEN", fmt.Sprintf(
				"Package is not allowed installation, first allow it to be installed by running command: emqx ctl plugins allow %s", nv))
			return
		}
		if g.sha256 != "" && !strings.EqualFold(g.sha256, Checksum(data)) {
			writeError(w, http.StatusForbidden, "FORBIDDEN", fmt.Sprintf(
				"Package is not allowed installation: the sha256 of %s does not match the allowed sha256", nv))
			return
		}
	}
	if self.hasPlugin(nv) {
		writeError(w, http.StatusBadRequest, "ALREADY_INSTALLED", nv+" already installed")
		return
	}
	pkg, err := readPluginPackage(nv, data)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BAD_PLUGIN_INFO", err.Error())
		return
	}
	for _, m := range h.s.w.runningMembers(c) {
		m.install(pkg)
	}
	c.plugins.ensureState(nv)
	if _, has := c.plugins.configs[nv]; !has && pkg.defaultConfig != nil {
		c.plugins.setConfig(nv, pkg.defaultConfig)
	}
	delete(c.plugins.grants, nv)
	w.WriteHeader(http.StatusNoContent)
}

// pluginUpload is the multipart field "plugin": its bytes and file name.
func pluginUpload(r *http.Request) ([]byte, string, bool) {
	if err := r.ParseMultipartForm(64 << 20); err != nil {
		return nil, "", false
	}
	f, hdr, err := r.FormFile("plugin")
	if err != nil {
		return nil, "", false
	}
	defer f.Close() //nolint:errcheck
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, "", false
	}
	return data, hdr.Filename, true
}

// deletePlugin stops, disables, uninstalls and forgets nv everywhere (safe_delete_package/1).
func (h *nodeAPI) deletePlugin(w http.ResponseWriter, r *http.Request) {
	nv := r.PathValue("nv")
	_, c, unlock := h.lock()
	defer unlock()
	if !h.s.w.pluginKnown(c, nv) {
		pluginNotFound(w, nv)
		return
	}
	for _, m := range h.s.w.runningMembers(c) {
		delete(m.plugins, nv)
	}
	if i := c.plugins.stateIndex(nv); i >= 0 {
		c.plugins.states = append(c.plugins.states[:i], c.plugins.states[i+1:]...)
	}
	delete(c.plugins.configs, nv)
	w.WriteHeader(http.StatusNoContent)
}

// startPlugin enables nv cluster-wide and runs it on every running node. On 6.2+ another enabled
// or running version of the plugin is refused first (#16904); then every running node must have
// the package: start preflights all running nodes (emqx6-behaviour.md §5). Which check comes first,
// and the 500's wording, are UNVERIFIED.
func (h *nodeAPI) startPlugin(w http.ResponseWriter, r *http.Request) {
	nv := r.PathValue("nv")
	self, c, unlock := h.lock()
	defer unlock()
	if !h.s.w.pluginKnown(c, nv) {
		pluginNotFound(w, nv)
		return
	}
	if pluginOneVersionRuns(self.version) {
		if other := h.s.w.otherVersionOn(c, nv); other != "" {
			writeError(w, http.StatusBadRequest, "PARAM_ERROR", fmt.Sprintf(
				"%s cannot be enabled: another version of the plugin (%s) is enabled; only one version of a plugin can run", nv, other))
			return
		}
	}
	running := h.s.w.runningMembers(c)
	for _, m := range running {
		if !m.hasPlugin(nv) {
			writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR",
				fmt.Sprintf("failed to start plugin %s: package not found on node %s", nv, m.name))
			return
		}
	}
	c.plugins.states[c.plugins.ensureState(nv)].enable = true
	for _, m := range running {
		m.startPlugin(nv)
	}
	w.WriteHeader(http.StatusNoContent)
}

// otherVersionOn is another version of nv's plugin that c has enabled or runs ("" when none).
func (w *world) otherVersionOn(c *cluster, nv string) string {
	name, _ := splitNameVsn(nv)
	for _, st := range c.plugins.states {
		if other, _ := splitNameVsn(st.nameVsn); st.enable && other == name && st.nameVsn != nv {
			return st.nameVsn
		}
	}
	for _, m := range w.runningMembers(c) {
		for other, ip := range m.plugins {
			if other != nv && ip.running && ip.pkg.name == name {
				return other
			}
		}
	}
	return ""
}

// stopPlugin disables nv cluster-wide and stops it on every node (cluster RPC).
func (h *nodeAPI) stopPlugin(w http.ResponseWriter, r *http.Request) {
	nv := r.PathValue("nv")
	_, c, unlock := h.lock()
	defer unlock()
	if !h.s.w.pluginKnown(c, nv) {
		pluginNotFound(w, nv)
		return
	}
	c.plugins.states[c.plugins.ensureState(nv)].enable = false
	for _, m := range h.s.w.runningMembers(c) {
		if ip := m.plugins[nv]; ip != nil {
			ip.running = false
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// getPluginConfig answers the config with the content type 'application/json', quotes included
// (emqx6-behaviour.md §5, trap 16).
func (h *nodeAPI) getPluginConfig(w http.ResponseWriter, r *http.Request) {
	nv := r.PathValue("nv")
	_, c, unlock := h.lock()
	known, conf := h.s.w.pluginKnown(c, nv), c.plugins.configs[nv]
	unlock()
	switch {
	case !known:
		pluginNotFound(w, nv)
	case conf == nil:
		writeError(w, http.StatusBadRequest, "BAD_CONFIG", "Plugin Config Not Found")
	default:
		w.Header().Set("Content-Type", "'application/json'")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(conf)
	}
}

// putPluginConfig checks the body against the package's Avro schema and stores it cluster-wide;
// a refused config leaves the old one in place.
func (h *nodeAPI) putPluginConfig(w http.ResponseWriter, r *http.Request) {
	nv := r.PathValue("nv")
	body, _ := io.ReadAll(r.Body)
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid json message received")
		return
	}
	self, c, unlock := h.lock()
	defer unlock()
	if !h.s.w.pluginKnown(c, nv) {
		pluginNotFound(w, nv)
		return
	}
	conf, err := parseConfigJSON(body)
	if err == nil {
		if p := h.s.w.pluginPackage(c, self, nv); p != nil && p.schema != nil {
			err = p.schema.check("", conf)
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "BAD_CONFIG", err.Error())
		return
	}
	c.plugins.setConfig(nv, compactJSON(body))
	w.WriteHeader(http.StatusNoContent)
}

// errNoAnchor is the BAD_POSITION of a move relative to a plugin not in the states.
var errNoAnchor = errors.New("position anchor plugin not configured")

// movePlugin reorders the states: front, rear, before:<nv>, after:<nv>. A malformed position is
// 400 MOVE_FAILED; an anchor not in the states is EMQX's BAD_POSITION, a code the endpoint does not
// declare, which minirest turns into a 500 (emqx6-behaviour.md §5: "probably 500", UNVERIFIED).
func (h *nodeAPI) movePlugin(w http.ResponseWriter, r *http.Request) {
	nv := r.PathValue("nv")
	var body struct {
		Position string `json:"position"`
	}
	raw, _ := io.ReadAll(r.Body)
	decodeErr := json.Unmarshal(raw, &body)
	_, c, unlock := h.lock()
	defer unlock()
	if !h.s.w.pluginKnown(c, nv) {
		pluginNotFound(w, nv)
		return
	}
	if decodeErr != nil {
		writeError(w, http.StatusBadRequest, "MOVE_FAILED", "Invalid position: "+strings.TrimSpace(string(raw)))
		return
	}
	states, err := movedStates(c.plugins.states, nv, body.Position)
	switch {
	case errors.Is(err, errNoAnchor):
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "Unsupported code BAD_POSITION: "+err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, "MOVE_FAILED", "Move failed: "+err.Error())
	default:
		c.plugins.states = states
		w.WriteHeader(http.StatusNoContent)
	}
}

// movedStates takes nv out of the states (a plugin not there yet enters disabled) and puts it
// back at position; the anchor of before:/after: is looked for among the others.
func movedStates(states []pluginState, nv, position string) ([]pluginState, error) {
	entry := pluginState{nameVsn: nv}
	var rest []pluginState
	for _, st := range states {
		if st.nameVsn == nv {
			entry = st
		} else {
			rest = append(rest, st)
		}
	}
	insertAt := func(i int) []pluginState {
		out := append([]pluginState{}, rest[:i]...)
		out = append(out, entry)
		return append(out, rest[i:]...)
	}
	where, anchor, relative := strings.Cut(position, ":")
	switch {
	case position == "front":
		return insertAt(0), nil
	case position == "rear":
		return insertAt(len(rest)), nil
	case relative && anchor != "" && (where == "before" || where == "after"):
		for i, st := range rest {
			if st.nameVsn == anchor {
				if where == "after" {
					i++
				}
				return insertAt(i), nil
			}
		}
		return nil, fmt.Errorf("%w: %s", errNoAnchor, anchor)
	}
	return nil, fmt.Errorf("invalid position %q", position)
}

// syncPlugin copies nv from the receiving node to every running node that lacks it; enable does
// not change, and a node that now has an enabled plugin runs it. No allow grant is asked: the
// reference ties the grant to the REST install only (a reading, UNVERIFIED).
func (h *nodeAPI) syncPlugin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Name == "" {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "body must be {\"name\": \"<name-vsn>\"}")
		return
	}
	self, c, unlock := h.lock()
	defer unlock()
	ip := self.plugins[body.Name]
	if ip == nil {
		pluginNotFound(w, body.Name)
		return
	}
	enabled := c.plugins.enabled(body.Name)
	for _, m := range h.s.w.runningMembers(c) {
		if m.hasPlugin(body.Name) {
			continue
		}
		m.install(ip.pkg)
		if enabled {
			m.startPlugin(body.Name)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
