package values

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// Paths inside the EMQX container.
const (
	BootstrapAPIKeysFile = "/opt/emqx/etc/bootstrap-api-keys/bootstrap_api_key"
	// LicenseDir holds the licence key the operator validated (Secret <name>-license). EMQX reads a
	// file:// licence at start-up and re-reads it every couple of minutes.
	LicenseDir    = "/opt/emqx/etc/license"
	LicenseFile   = LicenseDir + "/" + LicenseKey
	DashboardPort = 18083
)

func podValues(e *v2beta1.EMQX, role string, s *v2beta1.ReplicantTemplateSpec) *Pod {
	p := &Pod{
		NodeSelector:              s.NodeSelector,
		NodeName:                  s.NodeName,
		Affinity:                  s.Affinity,
		Tolerations:               append(slices.Clone(s.Tolerations), s.ToleRations...),
		TopologySpreadConstraints: s.TopologySpreadConstraints,
		SecurityContext:           restrictedPod(s.PodSecurityContext),
		InitContainers:            initContainers(e, s.InitContainers),
		// Service links would put one env var per Service of the namespace into EMQX's environment,
		// where EMQX reads every EMQX_* variable as configuration.
		EnableServiceLinks:            ptr.To(false),
		TerminationGracePeriodSeconds: terminationGracePeriod(e),
	}
	if p.Affinity == nil {
		p.Affinity = spreadOverNodes(e, role)
	}
	p.SecurityContext.Sysctls = tuningSysctls(e, p.SecurityContext.Sysctls)
	return p
}

// initContainers puts the node-tuning container (spec.tuning.nodeTuning) before the user's.
func initContainers(e *v2beta1.EMQX, user []corev1.Container) []corev1.Container {
	if c := nodeTuningContainer(e); c != nil {
		return append([]corev1.Container{*c}, user...)
	}
	return user
}

// spreadOverNodes prefers to put nodes of one role on different Kubernetes nodes, so losing one
// Kubernetes node does not take several EMQX nodes (a majority of cores) with it.
func spreadOverNodes(e *v2beta1.EMQX, role string) *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: e.RoleSelectorLabels(role)},
			},
		}},
	}}
}

// restrictedPod completes the pod security context so the pod passes Pod Security "restricted":
// fields the user left unset get the restricted value; fields the user set are kept, which is how
// a user opts into something else.
func restrictedPod(in *corev1.PodSecurityContext) *corev1.PodSecurityContext {
	sc := in.DeepCopy()
	if sc == nil {
		sc = &corev1.PodSecurityContext{}
	}
	if sc.RunAsNonRoot == nil && ptr.Deref(sc.RunAsUser, 1) != 0 {
		sc.RunAsNonRoot = ptr.To(true)
	}
	if sc.SeccompProfile == nil {
		sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	return sc
}

func restrictedContainer(in *corev1.SecurityContext) *corev1.SecurityContext {
	sc := in.DeepCopy()
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if sc.AllowPrivilegeEscalation == nil && !ptr.Deref(sc.Privileged, false) {
		sc.AllowPrivilegeEscalation = ptr.To(false)
	}
	if sc.Capabilities == nil {
		sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	}
	return sc
}

// DrainAllowance is how long a preStop evacuation may spend moving clients, beyond the waits the
// evacuation strategy sets.
const DrainAllowance = 120

// terminationGracePeriod follows the evacuation settings, so the kubelet never cuts an evacuation
// short with SIGKILL: the health-check wait, the takeover wait, the drain allowance, a margin.
func terminationGracePeriod(e *v2beta1.EMQX) *int64 {
	ev := e.Spec.UpdateStrategy.EvacuationStrategy
	return ptr.To(int64(int(ev.HealthCheckWait()) + int(ev.TakeoverWait()) + DrainAllowance + 30))
}

// preStopEvacuation evacuates the local node before its container stops, whoever stops it (a
// node drain, a manual deletion, the operator): start an evacuation with the cluster's rates, then
// wait until its clients are gone (the node reaches waiting_takeover or later). The kubelet bounds
// it with the termination grace period.
func preStopEvacuation(e *v2beta1.EMQX) *corev1.Lifecycle {
	ev := e.Spec.UpdateStrategy.EvacuationStrategy
	script := fmt.Sprintf(`/opt/emqx/bin/emqx ctl rebalance start --evacuation --wait-health-check %d --conn-evict-rate %d --sess-evict-rate %d --wait-takeover %d || true
while ! /opt/emqx/bin/emqx ctl rebalance node-status | grep -qE 'waiting_takeover|evicting_sessions|prohibiting|disabled'; do sleep 1; done`,
		ev.HealthCheckWait(), ev.ConnEvictRate, ev.SessEvictRate, ev.TakeoverWait())
	return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", script}}}}
}

func containerValues(e *v2beta1.EMQX, role string, s *v2beta1.ReplicantTemplateSpec) *Container {
	lifecycle := s.Lifecycle
	if lifecycle == nil {
		lifecycle = preStopEvacuation(e)
	}
	return &Container{
		Command:         s.Command,
		Args:            s.Args,
		Ports:           containerPorts(e, s.Ports),
		Env:             env(e, role, s.Env),
		EnvFrom:         s.EnvFrom,
		Resources:       s.Resources,
		SecurityContext: restrictedContainer(s.ContainerSecurityContext),
		LivenessProbe:   s.LivenessProbe,
		ReadinessProbe:  s.ReadinessProbe,
		StartupProbe:    s.StartupProbe,
		Lifecycle:       lifecycle,
	}
}

func containerPorts(e *v2beta1.EMQX, user []corev1.ContainerPort) []corev1.ContainerPort {
	ports := []corev1.ContainerPort{
		{Name: "dashboard", ContainerPort: DashboardPort, Protocol: corev1.ProtocolTCP},
		{Name: "ekka", ContainerPort: 4370, Protocol: corev1.ProtocolTCP},
		{Name: "genrpc", ContainerPort: 5369, Protocol: corev1.ProtocolTCP},
		{Name: "mqtt", ContainerPort: 1883, Protocol: corev1.ProtocolTCP},
		{Name: "mqtts", ContainerPort: 8883, Protocol: corev1.ProtocolTCP},
		{Name: "ws", ContainerPort: 8083, Protocol: corev1.ProtocolTCP},
		{Name: "wss", ContainerPort: 8084, Protocol: corev1.ProtocolTCP},
	}
	if e.Spec.TLS != nil && e.Spec.TLS.Dashboard {
		ports = append(ports, corev1.ContainerPort{Name: "dashboard-https", ContainerPort: DashboardHTTPSPort, Protocol: corev1.ProtocolTCP})
	}
	for _, u := range user {
		if u.Protocol == "" {
			u.Protocol = corev1.ProtocolTCP
		}
		i := slices.IndexFunc(ports, func(p corev1.ContainerPort) bool {
			return (u.Name != "" && p.Name == u.Name) || p.ContainerPort == u.ContainerPort
		})
		if i >= 0 {
			ports[i] = u
		} else {
			ports = append(ports, u)
		}
	}
	return ports
}

// operatorOwnedEnv are variables a user's env cannot override: they carry the node's role and the
// operator's own API key, and overriding them would break clustering or lock the operator out.
var operatorOwnedEnv = map[string]bool{"EMQX_NODE__ROLE": true, "EMQX_API_KEY__BOOTSTRAP_FILE": true}

// licenseVolume mounts the operator's licence Secret when spec.license is set.
func licenseVolume(e *v2beta1.EMQX) ([]corev1.Volume, []corev1.VolumeMount) {
	if e.Spec.License == nil {
		return nil, nil
	}
	return secretVolume("license", e.LicenseSecretName(), LicenseDir)
}

// secretVolume mounts one of the operator's Secrets read-only, readable by the EMQX user only.
func secretVolume(name, secret, dir string) ([]corev1.Volume, []corev1.VolumeMount) {
	return []corev1.Volume{{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret, DefaultMode: ptr.To[int32](0o440)}}}},
		[]corev1.VolumeMount{{Name: name, MountPath: dir, ReadOnly: true}}
}

func env(e *v2beta1.EMQX, role string, user []corev1.EnvVar) []corev1.EnvVar {
	secretEnv := func(name, secret, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key,
		}}}
	}
	base := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "EMQX_CLUSTER__DISCOVERY_STRATEGY", Value: "dns"},
		{Name: "EMQX_CLUSTER__DNS__NAME", Value: e.DNSName()},
		{Name: "EMQX_CLUSTER__DNS__RECORD_TYPE", Value: "srv"},
		{Name: "EMQX_NAME", Value: "emqx"},
		// The node name must equal the SRV target DNS discovery finds: <pod>.<headless FQDN>.
		{Name: "EMQX_HOST", Value: "$(POD_NAME)." + e.DNSName()},
		{Name: "EMQX_NODE__ROLE", Value: role},
		secretEnv("EMQX_NODE__COOKIE", e.CookieSecretName(), CookieKey),
		{Name: "EMQX_API_KEY__BOOTSTRAP_FILE", Value: `"` + BootstrapAPIKeysFile + `"`},
		{Name: "EMQX_DASHBOARD__DEFAULT_USERNAME", Value: "admin"},
		secretEnv("EMQX_DASHBOARD__DEFAULT_PASSWORD", e.DashboardSecretName(), DashboardPasswordKey),
	}
	if e.Spec.License != nil {
		base = append(base, corev1.EnvVar{Name: "EMQX_LICENSE__KEY", Value: `"file://` + LicenseFile + `"`})
	}
	base = append(base, tlsEnv(e)...)
	base = append(base, tuningEnv(e)...)
	userNames := map[string]bool{}
	for _, u := range user {
		if !operatorOwnedEnv[u.Name] {
			userNames[u.Name] = true
		}
	}
	out := make([]corev1.EnvVar, 0, len(base)+len(user))
	for _, b := range base {
		if !userNames[b.Name] {
			out = append(out, b)
		}
	}
	for _, u := range user {
		if !operatorOwnedEnv[u.Name] {
			out = append(out, u)
		}
	}
	return out
}

// Keys of the operator-made Secrets.
const (
	CookieKey            = "cookie"
	DashboardUsernameKey = "username"
	DashboardPasswordKey = "password"
	OperatorKeyKey       = "key"
	OperatorSecretKey    = "secret"
	BootstrapFileKey     = "bootstrap_api_key"
	LicenseKey           = "license.key"
)
