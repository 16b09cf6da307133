package values

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// The million-connection profile (spec.tuning). The seed article ran 1M connections on 5 EMQX 4.4
// nodes (200k per node) with forty lines of env and sysctls; here one number sizes the same
// settings for EMQX 5/6, and each setting lands where Kubernetes allows it:
//   - EMQX node and listener limits: env of the EMQX container (node.* is read at start-up);
//   - namespaced sysctls Kubernetes allows by default: the pod's securityContext.sysctls;
//   - namespaced sysctls the kubelet must allow (--allowed-unsafe-sysctls): only with unsafeSysctls;
//   - node-wide kernel settings: only with nodeTuning, a privileged init container;
//   - file-descriptor limits of the container runtime: docs/million-connections.md.

// Setting is one tuned value and where it goes: an EMQX config path (env), a sysctl, or a
// node-wide kernel setting.
type Setting struct {
	Key, Value string
}

// mqttListeners are the listeners that carry MQTT clients.
var mqttListeners = []string{"tcp", "ssl", "ws", "wss"}

// EMQXTuning are the EMQX settings for n connections per node, as config paths.
func EMQXTuning(n int64) []Setting {
	// Each connection is one Erlang process (plus sessions and helpers) and one port (socket);
	// EMQX's defaults (2097152 processes, 1048576 ports) hold up to about 500k connections.
	out := []Setting{
		{"node.process_limit", fmt.Sprint(max(2097152, roundUpPow2(4*n)))},
		{"node.max_ports", fmt.Sprint(max(1048576, roundUpPow2(2*n)))},
		// Inter-node traffic for hundreds of thousands of clients overflows the 8 MB default
		// distribution buffer (the article used 16 MB); the value is in kilobytes.
		{"node.dist_buffer_size", fmt.Sprint(map[bool]int{true: 16384, false: 8192}[n >= 100000])},
	}
	acceptors := map[bool]int64{true: 64, false: 16}[n >= 100000]
	// Room for the target plus a quarter (reconnect storms, uneven balancing), and at least the
	// article's 1024000.
	maxConns := max(1024000, n*5/4)
	// Half the node's target per second (the article's 100k/s at 200k a node), so a restarted
	// node takes its share back in seconds without a thundering herd, capped there.
	rate := min(100000, max(1000, n/2))
	for _, l := range mqttListeners {
		p := "listeners." + l + ".default."
		out = append(out,
			Setting{p + "acceptors", fmt.Sprint(acceptors)},
			Setting{p + "max_connections", fmt.Sprint(maxConns)},
			Setting{p + "max_conn_rate", fmt.Sprintf("%d/s", rate)},
			Setting{p + "tcp_options.backlog", fmt.Sprint(maxConns)},
		)
	}
	return out
}

// SafeSysctls are namespaced sysctls Kubernetes allows without kubelet flags (and Pod Security
// baseline/restricted accept).
var SafeSysctls = []Setting{
	{"net.ipv4.ip_local_port_range", "1025 65534"},
	{"net.ipv4.tcp_fin_timeout", "15"}, // safe since Kubernetes 1.29
}

// UnsafeSysctls are namespaced sysctls a kubelet refuses unless --allowed-unsafe-sysctls lists them.
var UnsafeSysctls = []Setting{
	{"net.core.somaxconn", "32768"},
	{"net.ipv4.tcp_max_syn_backlog", "163840"},
	{"net.ipv4.tcp_tw_reuse", "1"},
	{"net.ipv4.tcp_max_tw_buckets", "1048576"},
	{"net.ipv4.tcp_rmem", "1024 4096 16777216"}, // safe from Kubernetes 1.32
	{"net.ipv4.tcp_wmem", "1024 4096 16777216"}, // safe from Kubernetes 1.32
}

// NodeSettings are node-wide kernel settings (not namespaced: they hold for every pod on the node).
var NodeSettings = []Setting{
	{"fs.file-max", "1000000000"},
	{"fs.nr_open", "1000000000"},
	{"net.core.netdev_max_backlog", "163840"},
	{"net.core.optmem_max", "16777216"},
	{"net.core.rmem_default", "262144000"},
	{"net.core.wmem_default", "262144000"},
	{"net.core.rmem_max", "262144000"},
	{"net.core.wmem_max", "262144000"},
	{"net.ipv4.tcp_mem", "378150000 504200000 756300000"},
	{"net.ipv4.udp_mem", "74583000 499445000 749166000"},
	{"net.netfilter.nf_conntrack_max", "1000000"},
	{"net.netfilter.nf_conntrack_tcp_timeout_time_wait", "30"},
}

// tuningEnv is the EMQX settings as env, leaving out any key the user sets in config.data
// (env would silently override it) or in the template's env (the user's wins anyway).
func tuningEnv(e *v2beta1.EMQX) []corev1.EnvVar {
	if e.Spec.Tuning == nil {
		return nil
	}
	userSets := configKeys(e.Spec.Config.Data)
	var out []corev1.EnvVar
	for _, s := range EMQXTuning(e.Spec.Tuning.ConnectionsPerNode) {
		if userSets(s.Key) {
			continue
		}
		out = append(out, corev1.EnvVar{Name: EnvName(s.Key), Value: s.Value})
	}
	return out
}

// EnvName is the variable EMQX reads a config path from: EMQX_ + the path in upper case, "." → "__".
func EnvName(path string) string {
	return "EMQX_" + strings.ToUpper(strings.ReplaceAll(path, ".", "__"))
}

// configKeys parses config.data once (this runs on every reconcile) and tells whether it sets a path.
func configKeys(data string) func(path string) bool {
	if strings.TrimSpace(data) == "" {
		return func(string) bool { return false }
	}
	conf, err := emqxconf.Parse(data)
	if err != nil {
		// Unparsable config is refused before anything renders.
		return func(string) bool { return false }
	}
	return func(path string) bool {
		v, err := emqxconf.Lookup(conf, path)
		return err == nil && v != nil
	}
}

// tuningSysctls merges the profile's sysctls under the user's (the user's value wins by name).
func tuningSysctls(e *v2beta1.EMQX, user []corev1.Sysctl) []corev1.Sysctl {
	if e.Spec.Tuning == nil {
		return user
	}
	out := slices.Clone(user)
	add := func(set []Setting) {
		for _, s := range set {
			if !slices.ContainsFunc(out, func(u corev1.Sysctl) bool { return u.Name == s.Key }) {
				out = append(out, corev1.Sysctl{Name: s.Key, Value: s.Value})
			}
		}
	}
	add(SafeSysctls)
	if e.Spec.Tuning.UnsafeSysctls {
		add(UnsafeSysctls)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// nodeTuningContainer writes NodeSettings on the Kubernetes node before EMQX starts. It must be
// privileged and root to write /proc/sys outside the pod's namespaces; a setting the node's
// kernel lacks (conntrack not loaded) is skipped with a line in the container's log.
func nodeTuningContainer(e *v2beta1.EMQX) *corev1.Container {
	if e.Spec.Tuning == nil || !e.Spec.Tuning.NodeTuning {
		return nil
	}
	var script strings.Builder
	for _, s := range NodeSettings {
		f := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
		fmt.Fprintf(&script, "if [ -w %s ]; then echo '%s' > %s; else echo 'skipped %s (not on this node)'; fi\n", f, s.Value, f, s.Key)
	}
	return &corev1.Container{
		Name:    "node-tuning",
		Image:   e.Spec.Image,
		Command: []string{"/bin/sh", "-c", script.String()},
		SecurityContext: &corev1.SecurityContext{
			Privileged:   ptr.To(true),
			RunAsUser:    ptr.To[int64](0),
			RunAsNonRoot: ptr.To(false),
		},
	}
}

func roundUpPow2(n int64) int64 {
	p := int64(1)
	for p < n {
		p <<= 1
	}
	return p
}
