package v2beta1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Defaults the CRD's schema applies. Default mirrors them in Go so that `manager render` of a
// manifest that never went through an API server gives what the operator would apply.
const (
	DefaultCoreReplicas      int32 = 1
	DefaultReplicantReplicas int32 = 2
	DefaultClusterDomain           = "cluster.local"
	DefaultConfigMode              = "Merge"
	DefaultRunAsID           int64 = 1000
	// DefaultInitialDelaySeconds, DefaultWaitTakeover and DefaultEvictRate are the update
	// strategy's defaults (the rates are connections or sessions per second).
	DefaultInitialDelaySeconds int32 = 10
	DefaultWaitTakeover        int32 = 10
	DefaultEvictRate           int32 = 1000
	// WaitHealthCheckSeconds is the default of spec.updateStrategy.evacuationStrategy.waitHealthCheck:
	// how long EMQX is asked to wait, once a node is marked as evacuating, for load balancers to
	// stop sending it new clients before it evicts any (the vendor's v2 and v3beta1 default to 60).
	WaitHealthCheckSeconds = 10
)

// WithDefaultRates is e, or e with the default takeover wait and eviction rates when none of them
// is set (an object the API server's defaulting never saw).
func (e EvacuationStrategy) WithDefaultRates() EvacuationStrategy {
	if e.WaitTakeover == 0 && e.ConnEvictRate == 0 && e.SessEvictRate == 0 {
		e.WaitTakeover, e.ConnEvictRate, e.SessEvictRate = DefaultWaitTakeover, DefaultEvictRate, DefaultEvictRate
	}
	return e
}

// Default fills every field the CRD schema defaults and that is still unset. It is idempotent.
func (e *EMQX) Default() {
	s := &e.Spec
	if s.Config.Mode == "" {
		s.Config.Mode = DefaultConfigMode
	}
	if s.ClusterDomain == "" {
		s.ClusterDomain = DefaultClusterDomain
	}
	if s.RevisionHistoryLimit == 0 {
		s.RevisionHistoryLimit = 3
	}
	u := &s.UpdateStrategy
	if u.Type == "" {
		u.Type = "Recreate"
		if u.InitialDelaySeconds == 0 {
			u.InitialDelaySeconds = DefaultInitialDelaySeconds
		}
	}
	ev := &u.EvacuationStrategy
	*ev = ev.WithDefaultRates()
	if ev.WaitHealthCheck == nil {
		ev.WaitHealthCheck = ptr.To(int32(WaitHealthCheckSeconds))
	}
	if s.CoreTemplate.Spec.Replicas == nil {
		s.CoreTemplate.Spec.Replicas = ptr.To(DefaultCoreReplicas)
	}
	defaultPodSpec(&s.CoreTemplate.Spec.ReplicantTemplateSpec)
	if s.ReplicantTemplate != nil {
		if s.ReplicantTemplate.Spec.Replicas == nil {
			s.ReplicantTemplate.Spec.Replicas = ptr.To(DefaultReplicantReplicas)
		}
		defaultPodSpec(&s.ReplicantTemplate.Spec)
	}
	if s.License != nil && s.License.ExpiryWarningDays == 0 {
		s.License.ExpiryWarningDays = 30
	}
	if s.DashboardServiceTemplate == nil {
		s.DashboardServiceTemplate = &ServiceTemplate{Enabled: ptr.To(true)}
	}
	if s.ListenersServiceTemplate == nil {
		s.ListenersServiceTemplate = &ServiceTemplate{Enabled: ptr.To(true)}
	}
}

func defaultPodSpec(p *ReplicantTemplateSpec) {
	if p.PodSecurityContext == nil {
		p.PodSecurityContext = &corev1.PodSecurityContext{
			RunAsUser: ptr.To(DefaultRunAsID), RunAsGroup: ptr.To(DefaultRunAsID), FSGroup: ptr.To(DefaultRunAsID),
		}
	}
	if p.ContainerSecurityContext == nil {
		p.ContainerSecurityContext = &corev1.SecurityContext{
			RunAsUser: ptr.To(DefaultRunAsID), RunAsGroup: ptr.To(DefaultRunAsID), RunAsNonRoot: ptr.To(true),
		}
	}
	if p.LivenessProbe == nil {
		p.LivenessProbe = statusProbe(60, 30, 3)
	}
	if p.ReadinessProbe == nil {
		p.ReadinessProbe = statusProbe(10, 5, 12)
	}
}

func statusProbe(delay, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/status", Port: intstr.FromString("dashboard"),
		}},
		InitialDelaySeconds: delay, PeriodSeconds: period, FailureThreshold: failures,
	}
}

// CoreReplicas is the wanted number of core nodes.
func (e *EMQX) CoreReplicas() int32 {
	return ptr.Deref(e.Spec.CoreTemplate.Spec.Replicas, DefaultCoreReplicas)
}

// ReplicantReplicas is the wanted number of replicant nodes (0 without a replicant template).
func (e *EMQX) ReplicantReplicas() int32 {
	if e.Spec.ReplicantTemplate == nil {
		return 0
	}
	return ptr.Deref(e.Spec.ReplicantTemplate.Spec.Replicas, DefaultReplicantReplicas)
}
