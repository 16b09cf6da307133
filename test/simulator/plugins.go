package simulator

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// EMQX plugins (emqx6-behaviour.md §5). What is where:
//   - a plugin's tarball and whether it runs are node-local, in plugins.install_dir, which is not
//     under data/: a new container (a recreated pod, a restart) starts without any (node.plugins);
//   - plugins.states (the ordered list of name-vsns with enable), the plugins' configs and the
//     `emqx ctl plugins allow` grants are cluster-wide (cluster.plugins); a node joining another
//     cluster takes that cluster's;
//   - a node that boots into or joins a cluster installs each plugin of the cluster's states it
//     lacks from a running peer that has it, and starts those enabled (pluginsJoined).

// PluginAllowTTL is how long an `emqx ctl plugins allow` grant lasts on the releases where grants
// expire (pluginGrantsExpire).
const PluginAllowTTL = 5 * time.Minute

// pluginPackage is one plugin tarball, as EMQX reads it. It never changes once read: nodes that
// hold the same package share it.
type pluginPackage struct {
	nameVsn     string // the name-vsn the upload's file name gave it
	name, vsn   string // release.json's name and rel_vsn
	description string
	tarball     []byte
	sha256      string    // hex, of tarball
	schema      *avroType // priv/config_schema.avsc; nil when the package has none
	// defaultConfig is priv/config.hocon as a JSON object; nil when the package has none.
	defaultConfig json.RawMessage
}

// installedPlugin is a package on one node's disk, and whether the plugin runs there.
type installedPlugin struct {
	pkg     *pluginPackage
	running bool
}

// pluginState is one entry of the cluster's plugins.states.
type pluginState struct {
	nameVsn string
	enable  bool
}

// pluginGrant is an `emqx ctl plugins allow` entry.
type pluginGrant struct {
	sha256  string    // the pinned digest (hex); "" accepts any bytes
	expires time.Time // zero: never (the releases without expiry)
}

// clusterPlugins is the cluster-wide part of plugins: the states in order, each plugin's config
// (JSON object) and the install grants, by name-vsn.
type clusterPlugins struct {
	states  []pluginState
	configs map[string]json.RawMessage
	grants  map[string]pluginGrant
}

// pluginAllowNeeded: from 5.9 a REST install needs a prior `emqx ctl plugins allow`.
func pluginAllowNeeded(version string) bool { return atLeast(version, 5, 9) }

// pluginGrantsExpire: grants expire after 5 min in e5.9.3, e5.10.4, 6.0.3, 6.1.2+, 6.2.1+ and 6.3;
// not in e6.0.1, 6.1.0/6.1.1 or 6.2.0 (emqx6-behaviour.md §5). Later patches of each series are
// read as keeping the expiry, earlier ones as lacking it (patches between the tags the reference
// checked are not known: UNVERIFIED).
func pluginGrantsExpire(version string) bool {
	var ma, mi, pa int
	if _, err := fmt.Sscanf(version, "%d.%d.%d", &ma, &mi, &pa); err != nil {
		return false
	}
	firstExpiring := map[[2]int]int{{5, 9}: 3, {5, 10}: 4, {6, 0}: 3, {6, 1}: 2, {6, 2}: 1, {6, 3}: 0}
	if first, ok := firstExpiring[[2]int{ma, mi}]; ok {
		return pa >= first
	}
	return ma > 6 || ma == 6 && mi > 3
}

// pluginOneVersionRuns: 6.2.0+ refuses to enable two versions of one plugin (#16904).
func pluginOneVersionRuns(version string) bool { return atLeast(version, 6, 2) }

// pluginFileName is validate_file_name/2's rule for the uploaded file's name.
var pluginFileName = regexp.MustCompile(`^[A-Za-z]+\w*\-[\w.-]*$`)

func validPluginFileName(name string) bool {
	return len(name) <= 256 && pluginFileName.MatchString(name)
}

// nameVsnOfFile is string:trim(FileName, trailing, ".tar.gz"): Erlang trims every trailing
// character in the set {. t a r g z}, not the suffix, so "foo-1.0-beta.tar.gz" gives "foo-1.0-be"
// (emqx6-behaviour.md §5: derived from the Erlang semantics, UNVERIFIED at runtime).
func nameVsnOfFile(fileName string) string {
	return strings.TrimRight(fileName, ".tar.gz")
}

// splitNameVsn cuts a name-vsn at its first "-": plugin names are word characters only.
func splitNameVsn(nv string) (name, vsn string) {
	name, vsn, _ = strings.Cut(nv, "-")
	return name, vsn
}

// errBadPackage is what EMQX answers 400 BAD_PLUGIN_INFO for.
var errBadPackage = errors.New("bad plugin package")

// readPluginPackage reads an uploaded tarball for nameVsn: a gzip'd tar whose release.json names
// the same name and version; config_schema.avsc and config.hocon are found by base name.
func readPluginPackage(nameVsn string, data []byte) (*pluginPackage, error) {
	files, err := untarGzip(data)
	if err != nil {
		return nil, fmt.Errorf("%w: not a gzip'd tar: %v", errBadPackage, err)
	}
	release, ok := shallowest(files, "release.json")
	if !ok {
		return nil, fmt.Errorf("%w: no release.json", errBadPackage)
	}
	var info struct {
		Name        string `json:"name"`
		RelVsn      string `json:"rel_vsn"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(release, &info); err != nil {
		return nil, fmt.Errorf("%w: release.json: %v", errBadPackage, err)
	}
	if info.Name+"-"+info.RelVsn != nameVsn {
		return nil, fmt.Errorf("%w: release.json says %s-%s, the file name %s", errBadPackage, info.Name, info.RelVsn, nameVsn)
	}
	p := &pluginPackage{nameVsn: nameVsn, name: info.Name, vsn: info.RelVsn, description: info.Description,
		tarball: data, sha256: Checksum(data)}
	if text, ok := shallowest(files, "config_schema.avsc"); ok {
		if p.schema, err = parseAvroSchema(text); err != nil {
			return nil, fmt.Errorf("%w: config_schema.avsc: %v", errBadPackage, err)
		}
	}
	if text, ok := shallowest(files, "config.hocon"); ok {
		// The packages tests build carry JSON, which is HOCON; other HOCON is not read here.
		if _, err := parseConfigJSON(text); err != nil {
			return nil, fmt.Errorf("%w: config.hocon: %v", errBadPackage, err)
		}
		p.defaultConfig = compactJSON(text)
	}
	return p, nil
}

func untarGzip(data []byte) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return nil, err
		}
		files[path.Clean(hdr.Name)] = b
	}
}

// shallowest is the file with this base name nearest the archive's root.
func shallowest(files map[string][]byte, base string) ([]byte, bool) {
	best := ""
	for name := range files {
		if path.Base(name) != base {
			continue
		}
		if best == "" || strings.Count(name, "/") < strings.Count(best, "/") || strings.Count(name, "/") == strings.Count(best, "/") && name < best {
			best = name
		}
	}
	return files[best], best != ""
}

func compactJSON(text []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, text); err != nil {
		return nil
	}
	return buf.Bytes()
}

// The rest runs with w.mu held.

// stateIndex is nv's position in the cluster's states (-1: not there).
func (cp *clusterPlugins) stateIndex(nv string) int {
	return slices.IndexFunc(cp.states, func(s pluginState) bool { return s.nameVsn == nv })
}

// ensureState records nv in the states (disabled, at the end) unless it is there: ensure_state/1.
func (cp *clusterPlugins) ensureState(nv string) int {
	if i := cp.stateIndex(nv); i >= 0 {
		return i
	}
	cp.states = append(cp.states, pluginState{nameVsn: nv})
	return len(cp.states) - 1
}

func (cp *clusterPlugins) enabled(nv string) bool {
	i := cp.stateIndex(nv)
	return i >= 0 && cp.states[i].enable
}

// grant is nv's live grant; an expired one is dropped.
func (cp *clusterPlugins) grant(nv string, now time.Time) (pluginGrant, bool) {
	g, ok := cp.grants[nv]
	if ok && !g.expires.IsZero() && !now.Before(g.expires) {
		delete(cp.grants, nv)
		return pluginGrant{}, false
	}
	return g, ok
}

func (cp *clusterPlugins) setGrant(nv string, g pluginGrant) {
	if cp.grants == nil {
		cp.grants = map[string]pluginGrant{}
	}
	cp.grants[nv] = g
}

func (cp *clusterPlugins) setConfig(nv string, conf json.RawMessage) {
	if cp.configs == nil {
		cp.configs = map[string]json.RawMessage{}
	}
	cp.configs[nv] = conf
}

// install puts a package on n's disk (stopped), unless n has it.
func (n *node) install(p *pluginPackage) {
	if n.plugins == nil {
		n.plugins = map[string]*installedPlugin{}
	}
	if _, ok := n.plugins[p.nameVsn]; !ok {
		n.plugins[p.nameVsn] = &installedPlugin{pkg: p}
	}
}

func (n *node) hasPlugin(nv string) bool { return n.plugins[nv] != nil }

// startPlugin runs nv on n if n has it. On 6.2+ a node never runs two versions of one plugin: the
// version started first keeps running.
func (n *node) startPlugin(nv string) {
	ip := n.plugins[nv]
	if ip == nil {
		return
	}
	if pluginOneVersionRuns(n.version) && n.runsOtherVersion(nv) {
		return
	}
	ip.running = true
}

// runsOtherVersion: n runs a version of nv's plugin other than nv.
func (n *node) runsOtherVersion(nv string) bool {
	name, _ := splitNameVsn(nv)
	for other, ip := range n.plugins {
		if other != nv && ip.running && ip.pkg.name == name {
			return true
		}
	}
	return false
}

// pluginHolders are the running members of c that have nv installed, by node name.
func (w *world) pluginHolders(c *cluster, nv string) []*node {
	var out []*node
	for _, m := range w.runningMembers(c) {
		if m.hasPlugin(nv) {
			out = append(out, m)
		}
	}
	return out
}

// pluginKnown: nv is in c's states or installed on one of its running nodes.
func (w *world) pluginKnown(c *cluster, nv string) bool {
	return c.plugins.stateIndex(nv) >= 0 || len(w.pluginHolders(c, nv)) > 0
}

// pluginPackage is nv's package as self has it, else as the first running member that has it.
func (w *world) pluginPackage(c *cluster, self *node, nv string) *pluginPackage {
	if ip := self.plugins[nv]; ip != nil {
		return ip.pkg
	}
	if hs := w.pluginHolders(c, nv); len(hs) > 0 {
		return hs[0].plugins[nv].pkg
	}
	return nil
}

// pluginsJoined runs emqx_plugins_app:start/2 → ensure_installed/0 on a node that booted into or
// joined c (its apps restart): each plugin of c's states it lacks is fetched from a running peer
// that has it (get_from_cluster/1; one that no running peer has stays missing), then the enabled
// ones it has start, in states order, and nothing else runs (emqx6-behaviour.md §5 "Cluster
// behaviour").
func (w *world) pluginsJoined(n *node, c *cluster) {
	for _, st := range c.plugins.states {
		if n.hasPlugin(st.nameVsn) {
			continue
		}
		for _, peer := range w.runningMembers(c) {
			if peer != n && peer.hasPlugin(st.nameVsn) {
				n.install(peer.plugins[st.nameVsn].pkg)
				break
			}
		}
	}
	for _, ip := range n.plugins {
		ip.running = false
	}
	for _, st := range c.plugins.states {
		if st.enable {
			n.startPlugin(st.nameVsn)
		}
	}
}

// pluginNames lists what GET /plugins shows for c: every name-vsn installed on a running node, in
// the order of c's states, then the others by name.
func (w *world) pluginNames(c *cluster) []string {
	seen := map[string]bool{}
	var rest []string
	for _, m := range w.runningMembers(c) {
		for nv := range m.plugins {
			if !seen[nv] && c.plugins.stateIndex(nv) < 0 {
				rest = append(rest, nv)
			}
			seen[nv] = true
		}
	}
	var out []string
	for _, st := range c.plugins.states {
		if seen[st.nameVsn] {
			out = append(out, st.nameVsn)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// pluginInfo is one element of GET /plugins: name without the version (trap 16), rel_vsn, and one
// running_status per running node that has the package.
func (w *world) pluginInfo(c *cluster, self *node, nv string) map[string]any {
	p := w.pluginPackage(c, self, nv)
	statuses := []map[string]string{}
	for _, m := range w.pluginHolders(c, nv) {
		status := "stopped"
		if m.plugins[nv].running {
			status = "running"
		}
		statuses = append(statuses, map[string]string{"node": m.name, "status": status})
	}
	return map[string]any{"name": p.name, "rel_vsn": p.vsn, "description": p.description,
		"rel_apps": []string{p.nameVsn}, "running_status": statuses}
}
