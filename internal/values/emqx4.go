package values

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// Paths inside an EMQX 4 container. The operator's files are mounted under /mounted, apart from
// EMQX's own directories, and EMQX is pointed at them by environment variables.
const (
	Emqx4LicenseDir  = "/mounted/license"
	Emqx4LicenseFile = Emqx4LicenseDir + "/" + v1beta2.LicenseKey
	Emqx4FilesDir    = "/mounted/files"
	Emqx4CertDir     = "/mounted/cert"
)

// Keys of the EMQX 4 files ConfigMap and of the credentials Secret.
const (
	Emqx4ACLKey            = "acl.conf"
	Emqx4PluginsKey        = "loaded_plugins"
	Emqx4ModulesKey        = "loaded_modules"
	Emqx4CookieKey         = "node-cookie"
	Emqx4ManagementIDKey   = "management-id"
	Emqx4ManagementSecretK = "management-secret"
)

// Emqx4Inputs are what the EMQX 4 translator needs besides the resource.
type Emqx4Inputs struct {
	// Replicas, when set, replaces the spec's count (a scale-in step).
	Replicas *int32
	// License is true when the pods mount the operator's licence Secret.
	License bool
	// FilesChecksum identifies acl.conf, loaded_plugins and loaded_modules: EMQX 4 reads them at
	// start-up, so a change rolls the pods.
	FilesChecksum string
	// Files says which of those files the spec sets (EMQX's defaults stay for the others).
	Files Emqx4Files
	// ProxyEnv is the operator's proxy environment, passed on to the nodes (see Inputs).
	ProxyEnv []corev1.EnvVar
}

// Emqx4Files says which operator-written files the pods mount.
type Emqx4Files struct {
	ACL, Plugins, Modules bool
}

// SelectorLabels4 select every pod of an EMQX 4 cluster.
func SelectorLabels4(c v1beta2.Cluster) map[string]string {
	return map[string]string{v2beta1.LabelInstance: c.GetName(), v2beta1.LabelManagedBy: v2beta1.ManagedByValue}
}

// FromEmqx4 translates an EmqxEnterprise or EmqxBroker into chart values: one StatefulSet of
// full members (EMQX 4 has no replicant role), the listeners Service, configuration by env.
func FromEmqx4(c v1beta2.Cluster, in Emqx4Inputs) Values {
	spec, listener := v1beta2.Defaulted(c)
	replicas := *spec.Replicas
	if in.Replicas != nil {
		replicas = *in.Replicas
	}
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = c.GetName()
	}
	labels := withoutSelectorKeys(maps.Clone(c.GetLabels()))
	podLabels := withoutSelectorKeys(spec.Labels)
	volumes, mounts := emqx4Volumes(c, in)
	v := Values{
		Generation: 4,
		Cluster: Cluster{
			Name:            c.GetName(),
			Domain:          v1beta2.ClusterDomain,
			Labels:          labels,
			SelectorLabels:  SelectorLabels4(c),
			HeadlessService: v1beta2.HeadlessServiceName(c),
			DNSName:         v1beta2.HeadlessFQDN(c),
		},
		Image:                spec.Image,
		ImagePullPolicy:      pullPolicy4(spec.ImagePullPolicy),
		ImagePullSecrets:     spec.ImagePullSecrets,
		RevisionHistoryLimit: 3,
		ServiceAccount:       ServiceAccount{Create: spec.ServiceAccountName == "", Name: sa},
		Config:               ConfigFile{Checksum: in.FilesChecksum},
		Roles: Roles{Core: Role{
			Enabled:        true,
			Workload:       v1beta2.StatefulSetName(c),
			Replicas:       replicas,
			Labels:         labels,
			PodLabels:      mergeLabels(labels, podLabels),
			PodAnnotations: maps.Clone(spec.Annotations),
			Pod: &Pod{
				NodeSelector:       spec.NodeSelector,
				NodeName:           spec.NodeName,
				Affinity:           emqx4Affinity(c, spec.Affinity),
				Tolerations:        spec.ToleRations,
				SecurityContext:    restrictedPod(emqx4PodSecurity(spec.SecurityContext)),
				EnableServiceLinks: ptr.To(false),
			},
			Container: &Container{
				Ports:           emqx4ContainerPorts(listener.Ports),
				Env:             withDefaults(Emqx4Env(c, listener.Ports, in), in.ProxyEnv),
				Resources:       spec.Resources,
				SecurityContext: restrictedContainer(nil),
				ReadinessProbe:  emqx4Probe(10, 5, 12),
				LivenessProbe:   emqx4Probe(60, 30, 3),
			},
			VolumeMounts:    append(mounts, spec.ExtraVolumeMounts...),
			Volumes:         append(volumes, spec.ExtraVolumes...),
			ExtraContainers: telegraf(c, spec.TelegrafTemplate),
			Persistence:     emqx4Storage(spec.Storage),
			// Data is never deleted unless the user deletes the claims.
			PVCRetention: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			PDB: map[string]any{"maxUnavailable": 1},
		}},
		Services: []Service{emqx4ListenerService(c, listener)},
	}
	return v
}

func mergeLabels(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil && len(b) > 0 {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

func pullPolicy4(p corev1.PullPolicy) corev1.PullPolicy {
	if p != "" {
		return p
	}
	return corev1.PullIfNotPresent
}

// emqx4PodSecurity defaults to the EMQX 4 image's user (uid/gid 1000), with fsGroup so the data
// volume is writable; a securityContext the user gives is kept as it is.
func emqx4PodSecurity(user *corev1.PodSecurityContext) *corev1.PodSecurityContext {
	if user != nil {
		return user
	}
	return &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000), FSGroup: ptr.To[int64](1000)}
}

func emqx4Affinity(c v1beta2.Cluster, user *corev1.Affinity) *corev1.Affinity {
	if user != nil {
		return user
	}
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels4(c)},
			},
		}},
	}}
}

// emqx4Probe asks EMQX 4's management listener whether the node is running (200 once started).
func emqx4Probe(delay, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/status", Port: intstr.FromString("api")}},
		InitialDelaySeconds: delay, PeriodSeconds: period, FailureThreshold: failures,
	}
}

func emqx4ContainerPorts(p v1beta2.Ports) []corev1.ContainerPort {
	tcp := func(name string, port int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
	}
	return []corev1.ContainerPort{
		tcp("mqtt", p.MQTT), tcp("mqtts", p.MQTTS), tcp("ws", p.WS), tcp("wss", p.WSS),
		tcp("dashboard", p.Dashboard), tcp("api", p.API), tcp("ekka", 4370), tcp("genrpc", 5369),
	}
}

func emqx4Storage(s *corev1.PersistentVolumeClaimSpec) *corev1.PersistentVolumeClaimSpec {
	if s == nil {
		return nil
	}
	pvc := s.DeepCopy()
	if len(pvc.AccessModes) == 0 {
		pvc.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return pvc
}

// emqx4ListenerService exposes every listener, the dashboard and the management API, with the
// type, ports, node ports and load-balancer fields of spec.emqxTemplate.listener.
func emqx4ListenerService(c v1beta2.Cluster, l v1beta2.Listener) Service {
	port := func(name string, p, nodePort int32) corev1.ServicePort {
		sp := corev1.ServicePort{Name: name, Port: p, TargetPort: intstr.FromString(name), Protocol: corev1.ProtocolTCP}
		if l.Type != corev1.ServiceTypeClusterIP {
			sp.NodePort = nodePort
		}
		return sp
	}
	spec := corev1.ServiceSpec{
		Type:     l.Type,
		Selector: SelectorLabels4(c),
		Ports: []corev1.ServicePort{
			port("mqtt", l.Ports.MQTT, l.NodePorts.MQTT), port("mqtts", l.Ports.MQTTS, l.NodePorts.MQTTS),
			port("ws", l.Ports.WS, l.NodePorts.WS), port("wss", l.Ports.WSS, l.NodePorts.WSS),
			port("dashboard", l.Ports.Dashboard, l.NodePorts.Dashboard), port("api", l.Ports.API, l.NodePorts.API),
		},
		ExternalIPs: l.ExternalIPs,
	}
	if l.Type == corev1.ServiceTypeLoadBalancer {
		spec.LoadBalancerIP = l.LoadBalancerIP
		spec.LoadBalancerSourceRanges = l.LoadBalancerSourceRanges
	}
	return Service{Name: v1beta2.ListenerServiceName(c), Labels: withoutSelectorKeys(l.Labels),
		Annotations: maps.Clone(l.Annotations), Spec: spec}
}

// telegraf is the optional metrics/log sidecar, reading EMQX's logs from the data volume.
func telegraf(c v1beta2.Cluster, t *v1beta2.TelegrafTemplate) []corev1.Container {
	if t == nil {
		return nil
	}
	ct := corev1.Container{
		Name: "telegraf", Image: t.Image, ImagePullPolicy: pullPolicy4(t.ImagePullPolicy), Resources: t.Resources,
		SecurityContext: restrictedContainer(nil),
		VolumeMounts:    []corev1.VolumeMount{{Name: "emqx-data", MountPath: "/opt/emqx/data", ReadOnly: true}},
	}
	if t.Conf != nil {
		ct.Args = []string{"--config", Emqx4FilesDir + "/telegraf.conf"}
		ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: "emqx4-files", MountPath: Emqx4FilesDir, ReadOnly: true})
	}
	return []corev1.Container{ct}
}
