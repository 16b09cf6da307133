package cli

import (
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/broker-ops/emqx-operator/internal/values"
)

// TestMillionConnectionProfile maps every setting the seed article tuned, by hand, to where the
// rendered EMQX equivalent (testdata/million-connections.yaml, spec.tuning) carries it: the EMQX
// container's env, the pod's sysctls, the node-tuning init container, the container's resources,
// the listeners Service. Settings no pod can carry (file-descriptor limits of the runtime, a
// kernel module) must be covered by docs/million-connections.md.
func TestMillionConnectionProfile(t *testing.T) {
	src, err := os.ReadFile("testdata/million-connections.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := RenderManifests(src, "default")
	if err != nil {
		t.Fatal(err)
	}
	var sts *appsv1.StatefulSet
	var svc *corev1.Service
	for _, doc := range strings.Split(string(out), "\n---\n") {
		switch {
		case strings.Contains(doc, "kind: StatefulSet") && strings.Contains(doc, "name: emqx-ee-core\n"):
			sts = &appsv1.StatefulSet{}
			if err := yaml.Unmarshal([]byte(doc), sts); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(doc, "kind: Service\n") && strings.Contains(doc, "name: emqx-ee-listeners\n"):
			svc = &corev1.Service{}
			if err := yaml.Unmarshal([]byte(doc), svc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sts == nil || svc == nil {
		t.Fatal("no core StatefulSet or listeners Service rendered")
	}
	pod := sts.Spec.Template.Spec
	env := map[string]string{}
	for _, e := range pod.Containers[0].Env {
		env[e.Name] = e.Value
	}
	sysctls := map[string]string{}
	for _, s := range pod.SecurityContext.Sysctls {
		sysctls[s.Name] = s.Value
	}
	nodeScript := ""
	for _, c := range pod.InitContainers {
		if c.Name == "node-tuning" {
			nodeScript = strings.Join(c.Command, " ")
			if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
				t.Error("node-tuning is not privileged: it could not write node-wide settings")
			}
		}
	}
	docs, err := os.ReadFile("../../docs/million-connections.md")
	if err != nil {
		t.Fatal(err)
	}

	type where int
	const (
		inEnv where = iota
		inSysctls
		inNodeTuning
		inDocs
	)
	cases := []struct {
		article string // the article's setting, as it wrote it
		where   where
		key     string // env name, sysctl, or what the docs must name
		want    string
	}{
		{"EMQX_NODE__DIST_BUFFER_SIZE=16MB", inEnv, "EMQX_NODE__DIST_BUFFER_SIZE", "16384"},
		{"EMQX_NODE__PROCESS_LIMIT=2097152", inEnv, "EMQX_NODE__PROCESS_LIMIT", "2097152"},
		{"EMQX_NODE__MAX_PORTS=1048576", inEnv, "EMQX_NODE__MAX_PORTS", "1048576"},
		{"EMQX_LISTENER__TCP__EXTERNAL__ACCEPTORS=64", inEnv, "EMQX_LISTENERS__TCP__DEFAULT__ACCEPTORS", "64"},
		{"EMQX_LISTENER__TCP__EXTERNAL__BACKLOG=1024000", inEnv, "EMQX_LISTENERS__TCP__DEFAULT__TCP_OPTIONS__BACKLOG", "1024000"},
		{"EMQX_LISTENER__TCP__EXTERNAL__MAX_CONNECTIONS=1024000", inEnv, "EMQX_LISTENERS__TCP__DEFAULT__MAX_CONNECTIONS", "1024000"},
		{"EMQX_LISTENER__TCP__EXTERNAL__MAX_CONN_RATE=100000", inEnv, "EMQX_LISTENERS__TCP__DEFAULT__MAX_CONN_RATE", "100000/s"},
		{"net.ipv4.ip_local_port_range=1025 65534", inSysctls, "net.ipv4.ip_local_port_range", "1025 65534"},
		{"net.ipv4.tcp_fin_timeout=15", inSysctls, "net.ipv4.tcp_fin_timeout", "15"},
		{"net.ipv4.tcp_tw_reuse=1", inSysctls, "net.ipv4.tcp_tw_reuse", "1"},
		{"net.core.somaxconn=32768", inSysctls, "net.core.somaxconn", "32768"},
		{"net.ipv4.tcp_max_sync_backlog=163840", inSysctls, "net.ipv4.tcp_max_syn_backlog", "163840"},
		{"net.ipv4.tcp_rmem=1024 4096 16777216", inSysctls, "net.ipv4.tcp_rmem", "1024 4096 16777216"},
		{"net.ipv4.tcp_wmem=1024 4096 16777216", inSysctls, "net.ipv4.tcp_wmem", "1024 4096 16777216"},
		{"net.ipv4.tcp_max_tw_buckets=1048576", inSysctls, "net.ipv4.tcp_max_tw_buckets", "1048576"},
		{"fs.nr_open=1000000000", inNodeTuning, "/proc/sys/fs/nr_open", "1000000000"},
		{"fs.file-max=1000000000", inNodeTuning, "/proc/sys/fs/file-max", "1000000000"},
		{"net.ipv4.udp_mem=74583000 499445000 749166000", inNodeTuning, "/proc/sys/net/ipv4/udp_mem", "74583000 499445000 749166000"},
		{"net.core.netdev_max_backlog=163840", inNodeTuning, "/proc/sys/net/core/netdev_max_backlog", "163840"},
		{"net.core.optmem_max=16777216", inNodeTuning, "/proc/sys/net/core/optmem_max", "16777216"},
		{"net.core.rmem_default=262144000", inNodeTuning, "/proc/sys/net/core/rmem_default", "262144000"},
		{"net.core.wmem_default=262144000", inNodeTuning, "/proc/sys/net/core/wmem_default", "262144000"},
		{"net.core.rmem_max=262144000", inNodeTuning, "/proc/sys/net/core/rmem_max", "262144000"},
		{"net.core.wmem_max=262144000", inNodeTuning, "/proc/sys/net/core/wmem_max", "262144000"},
		{"net.ipv4.tcp_mem=378150000 504200000 756300000", inNodeTuning, "/proc/sys/net/ipv4/tcp_mem", "378150000 504200000 756300000"},
		{"net.netfilter.nf_conntrack_max=1000000", inNodeTuning, "/proc/sys/net/netfilter/nf_conntrack_max", "1000000"},
		{"net.netfilter.nf_conntrack_tcp_timeout_time_wait=30", inNodeTuning, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait", "30"},
		{"DefaultLimitNOFILE=100000000 (systemd)", inDocs, "DefaultLimitNOFILE", ""},
		{"nofile 10000000/100000000 (limits.conf)", inDocs, "LimitNOFILE", ""},
		{"modprobe ip_conntrack", inDocs, "modprobe nf_conntrack", ""},
	}
	for _, c := range cases {
		t.Run(c.article, func(t *testing.T) {
			switch c.where {
			case inEnv:
				if env[c.key] != c.want {
					t.Errorf("env %s = %q, want %q", c.key, env[c.key], c.want)
				}
			case inSysctls:
				if sysctls[c.key] != c.want {
					t.Errorf("sysctl %s = %q, want %q", c.key, sysctls[c.key], c.want)
				}
			case inNodeTuning:
				if !strings.Contains(nodeScript, "echo '"+c.want+"' > "+c.key) {
					t.Errorf("node-tuning does not write %q to %s", c.want, c.key)
				}
			case inDocs:
				if !strings.Contains(string(docs), c.key) {
					t.Errorf("docs/million-connections.md does not cover %s", c.key)
				}
			}
		})
	}
	// Every node-wide setting the operator knows is accounted for above (no silent extras).
	for _, s := range values.NodeSettings {
		if !strings.Contains(nodeScript, s.Key[strings.LastIndex(s.Key, ".")+1:]) {
			t.Errorf("%s missing from node-tuning", s.Key)
		}
	}

	res := pod.Containers[0].Resources
	if res.Requests.Cpu().String() != "4" || res.Requests.Memory().String() != "4Gi" ||
		res.Limits.Cpu().String() != "20" || res.Limits.Memory().String() != "20Gi" {
		t.Errorf("resources = %+v, want the article's 4/4Gi requests and 20/20Gi limits", res)
	}
	if *sts.Spec.Replicas != 5 {
		t.Errorf("replicas = %d, want 5", *sts.Spec.Replicas)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
		svc.Annotations["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type"] != "intranet" ||
		svc.Annotations["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec"] != "slb.s3.large" {
		t.Errorf("listeners Service = %+v %v", svc.Spec, svc.Annotations)
	}
}
