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
	// DefaultRevisionHistoryLimit is how many old revisions of the workloads are kept by default.
	DefaultRevisionHistoryLimit int32 = 3
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

// WithDefaultRates is e, or e with the default eviction rates when neither is set and the takeover
// wait is unset or 0 (an object the API server's defaulting never saw: the rates' minimum is 1).
// An unset takeover wait gets its default with them; one that is set, even to 0, is kept.
func (e EvacuationStrategy) WithDefaultRates() EvacuationStrategy {
	if ptr.Deref(e.WaitTakeover, 0) == 0 && e.ConnEvictRate == 0 && e.SessEvictRate == 0 {
		e.ConnEvictRate, e.SessEvictRate = DefaultEvictRate, DefaultEvictRate
		if e.WaitTakeover == nil {
			e.WaitTakeover = ptr.To(DefaultWaitTakeover)
		}
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
	// The numbers that may be 0 are pointers: only nil is unset, an explicit 0 stays.
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr.To(DefaultRevisionHistoryLimit)
	}
	u := &s.UpdateStrategy
	if u.Type == "" {
		u.Type = "Recreate"
	}
	// The schema defaults the field itself too, not only the whole update strategy.
	if u.InitialDelaySeconds == nil {
		u.InitialDelaySeconds = ptr.To(DefaultInitialDelaySeconds)
	}
	ev := &u.EvacuationStrategy
	*ev = ev.WithDefaultRates()
	if ev.WaitTakeover == nil {
		ev.WaitTakeover = ptr.To(DefaultWaitTakeover)
	}
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

// RevisionsKept is spec.revisionHistoryLimit, or its default when unset.
func (e *EMQX) RevisionsKept() int32 {
	return ptr.Deref(e.Spec.RevisionHistoryLimit, DefaultRevisionHistoryLimit)
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
