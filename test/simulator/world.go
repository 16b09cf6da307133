package simulator

import (
	"sort"
	"sync"
	"time"
)

// world is the simulated EMQX universe: every node and the clusters they form. One mutex guards it
// all; the simulator's scale (tens of nodes) makes that simple and safe.
type world struct {
	mu       sync.Mutex
	nodes    map[string]*node    // by node name (running or stopped)
	clusters map[int]*cluster    // by id
	persist  map[string]*persist // what survives a restart on the same data volume, by node name
	// pendingFaults are faults set for a node that has not started yet.
	pendingFaults map[string]Faults
	nextID        int
	// dsTransition is how long (wall time, scaled) one DS replica-set transition takes.
	dsTransition time.Duration
}

// cluster is one EMQX cluster: its members (by node name) and its replicated tables.
type cluster struct {
	id      int
	members map[string]bool // node name → true while in the cluster's schema
	apiKeys map[string]apiKey
	license License
	config  string // HOCON applied at runtime (PUT /configs), cluster-wide
	records map[string]string
	// ds are the cluster's durable-storage tables, by EMQX major release: 6.x keeps them apart
	// from 5.x's (ds.go).
	ds map[int]*dsView
	// plugins are plugins.states, the plugins' configs and the install grants (plugins.go).
	plugins clusterPlugins
}

// apiKey is an API-key record as EMQX stores it: by name, with the key and its secret.
type apiKey struct {
	Name, Key, Secret string
}

// persist is a core node's data directory: it outlives the pod on a PVC.
type persist struct {
	evacuation *evacuationOpts
	clusterID  int
	// dsSites are the node's DS site IDs by major release: 5.x and 6.x keep them in different
	// files of the data dir, and 6.x does not read 5.x's.
	dsSites map[int]string
	// volume is the UID of the PVC the data dir is on ("" when not on a PVC).
	volume string
}

// node is one simulated EMQX node (one pod).
type node struct {
	name      string
	podKey    string // namespace/name
	podUID    string
	ip        string
	role      string
	version   string
	cookie    string
	dnsName   string
	namespace string
	startedAt time.Time
	bootKeys  []apiKey
	licKey    string // the key EMQX was configured with (env or emqx.conf)
	licFile   string // its file:// path, re-read periodically
	licRead   time.Time
	tlsSpecs  []tlsListenerSpec // TLS listeners the pod configures
	// mgmtID/mgmtSecret: an EMQX 4 node's management application (its API is on 8081).
	mgmtID, mgmtSecret string
	image              string

	state       nodeState
	clusterID   int
	connections int64
	evac        *evacuation
	files       map[string][]byte // backup files in <data_dir>/backup
	faults      Faults
	// licDeadline is when the node's licence validation fails if the cluster still runs the
	// single-node licence with others (zero: none under way); crashed: it failed
	// (SINGLE_NODE_LICENSE) and its container starts again.
	licDeadline time.Time
	volume      string // the data volume's PVC UID (nodeSpec.dataVolume)
	// promBasicAuth: the Prometheus stats endpoint asks for an API key (read at start).
	promBasicAuth bool
	crashed       bool
	ds            dsConfig // durable storage as configured at start
	site          string   // DS site ID ("" before 5.9)
	// plugins are the plugin packages in the node's install_dir, by name-vsn: not on the data
	// volume, so every new node starts without any (plugins.go).
	plugins map[string]*installedPlugin
}

type nodeState int

const (
	booting nodeState = iota
	running
	stopped
)

func newWorld() *world {
	return &world{nodes: map[string]*node{}, clusters: map[int]*cluster{}, persist: map[string]*persist{}, pendingFaults: map[string]Faults{}}
}

// newCluster makes a one-node cluster for n.
func (w *world) newCluster(n *node) *cluster {
	w.nextID++
	c := &cluster{id: w.nextID, members: map[string]bool{n.name: true}, apiKeys: map[string]apiKey{},
		license: defaultLicense(n.version), records: map[string]string{}}
	w.clusters[c.id] = c
	n.clusterID = c.id
	return c
}

func (w *world) clusterOf(n *node) *cluster { return w.clusters[n.clusterID] }

// members returns the nodes of n's cluster, sorted by name.
func (w *world) members(c *cluster) []*node {
	var out []*node
	for name := range c.members {
		if m, ok := w.nodes[name]; ok {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// runningMembers are the members whose node runs.
func (w *world) runningMembers(c *cluster) []*node {
	var out []*node
	for _, m := range w.members(c) {
		if m.state == running {
			out = append(out, m)
		}
	}
	return out
}

// join moves n into target's cluster, as ekka/mria do: the joining node drops its own data and
// takes the cluster's; its bootstrap keys are re-applied (a join restarts its apps).
func (w *world) join(n *node, target *cluster) {
	now := time.Now()
	w.dsSync(w.clusters[n.clusterID], now)
	w.dsSync(target, now)
	if old := w.clusters[n.clusterID]; old != nil && old.id != target.id {
		delete(old.members, n.name)
		if len(old.members) == 0 {
			delete(w.clusters, old.id)
		}
	}
	target.members[n.name] = true
	n.clusterID = target.id
	w.rememberCluster(n)
	if n.role == "core" {
		for _, k := range n.bootKeys {
			target.upsertKey(k)
		}
	}
	w.dsSync(target, now) // the joiner claims its site in the cluster's table
	w.pluginsJoined(n, target)
}

// leave makes n a standalone node again (force_leave of a running core).
func (w *world) leave(n *node) {
	if c := w.clusters[n.clusterID]; c != nil {
		w.dsSync(c, time.Now())
		delete(c.members, n.name)
	}
	c := w.newCluster(n)
	w.rememberCluster(n)
	for _, k := range n.bootKeys {
		c.upsertKey(k)
	}
	w.dsSync(c, time.Now())
}

// rememberCluster records on a core's data volume the cluster it is now in, as mria's schema on
// disk does: restarted, the core returns to that cluster (not to the one it first booted into).
func (w *world) rememberCluster(n *node) {
	if per := w.persist[n.name]; per != nil && n.role == "core" {
		per.clusterID = n.clusterID
	}
}

// upsertKey applies a bootstrap line: the record named after the key replaces any record holding
// the same key, as emqx_mgmt_auth:do_force_create_app does.
func (c *cluster) upsertKey(k apiKey) {
	for name, r := range c.apiKeys {
		if r.Key == k.Key {
			delete(c.apiKeys, name)
		}
	}
	c.apiKeys[k.Name] = k
}

// hasCompatibleCore reports whether c has a running core of the replicant's release
// (emqx/emqx#12786: a replicant only connects to cores of the same version).
func (w *world) hasCompatibleCore(c *cluster, version string) bool {
	for _, m := range w.runningMembers(c) {
		if m.role == "core" && m.version == version {
			return true
		}
	}
	return false
}
