package v2

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/conversion"

	"github.com/broker-ops/emqx-operator/api/internal/convert"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// ConversionAnnotation carries, on a v2 object converted from v2beta1, the v2beta1 fields v2 cannot
// express, so that converting back restores them: nothing is lost in a round trip.
const ConversionAnnotation = "apps.emqx.io/v2-conversion"

// unconverted is what ConversionAnnotation holds.
type unconverted struct {
	// CoreToleRations and ReplicantToleRations are a v2beta1 object's legacy toleRations, kept on
	// its v2 form, which carries them at the end of tolerations (both lists always applied).
	CoreToleRations      []corev1.Toleration `json:"coreToleRations,omitempty"`
	ReplicantToleRations []corev1.Toleration `json:"replicantToleRations,omitempty"`
}

func (u unconverted) empty() bool {
	return len(u.CoreToleRations) == 0 && len(u.ReplicantToleRations) == 0
}

// Defaults of the vendor's v2 that differ from v2beta1's, materialised when a v2 object reaches the
// hub, so that a manifest written as v2 runs as v2 promised whichever version is read later.
const (
	// DefaultCoreReplicas is v2's core count (v2beta1 defaults to one core).
	DefaultCoreReplicas int32 = 2
	// DefaultReplicantReplicas is v2's replicant count when the template is given (as in v2beta1).
	DefaultReplicantReplicas int32 = 2
	// DefaultWaitHealthCheck is v2's wait for load balancers before an evacuation evicts clients
	// (v2beta1's is v2beta1.WaitHealthCheckSeconds).
	DefaultWaitHealthCheck int32 = 60
)

// DefaultPodSecurityContext is v2's pod security context (v2beta1's lacks fsGroupChangePolicy and
// supplementalGroups).
func DefaultPodSecurityContext() *corev1.PodSecurityContext {
	always := corev1.FSGroupChangeAlways
	return &corev1.PodSecurityContext{RunAsUser: ptr.To(v2beta1.DefaultRunAsID), RunAsGroup: ptr.To(v2beta1.DefaultRunAsID),
		FSGroup: ptr.To(v2beta1.DefaultRunAsID), FSGroupChangePolicy: &always, SupplementalGroups: []int64{v2beta1.DefaultRunAsID}}
}

var _ conversion.Convertible = &EMQX{}

// ConvertTo converts this v2 EMQX to the hub, v2beta1.
func (src *EMQX) ConvertTo(hub conversion.Hub) error {
	dst, ok := hub.(*v2beta1.EMQX)
	if !ok {
		return fmt.Errorf("EMQX v2 converts to v2beta1 only, not to %T", hub)
	}
	in := src.DeepCopy()
	back := convert.TakeAnnotation[unconverted](&in.ObjectMeta, ConversionAnnotation)
	var keep unconverted

	dst.ObjectMeta = in.ObjectMeta
	s := &in.Spec
	dst.Spec = v2beta1.EMQXSpec{
		Image: s.Image, ImagePullPolicy: s.ImagePullPolicy, ImagePullSecrets: s.ImagePullSecrets,
		ServiceAccountName: s.ServiceAccountName, RestoreFrom: s.RestoreFrom, Monitoring: s.Monitoring,
		BootstrapAPIKeys: s.BootstrapAPIKeys, Config: s.Config, ClusterDomain: s.ClusterDomain,
		RevisionHistoryLimit:     s.RevisionHistoryLimit,
		DashboardServiceTemplate: s.DashboardServiceTemplate, ListenersServiceTemplate: s.ListenersServiceTemplate,
		License: s.License, TLS: s.TLS, Tuning: s.Tuning,
	}

	ev := s.UpdateStrategy.EvacuationStrategy
	if ev == (EvacuationStrategy{}) {
		// Written before the field defaults reached it: v2's defaults, not v2beta1's.
		ev = EvacuationStrategy{WaitTakeover: ptr.To(int32(10)), ConnEvictRate: 1000, SessEvictRate: 1000, WaitHealthCheck: ptr.To(DefaultWaitHealthCheck)}
	}
	dst.Spec.UpdateStrategy = v2beta1.UpdateStrategy{
		Type: s.UpdateStrategy.Type, InitialDelaySeconds: s.UpdateStrategy.InitialDelaySeconds,
		EvacuationStrategy: v2beta1.EvacuationStrategy{WaitTakeover: ev.WaitTakeover, ConnEvictRate: ev.ConnEvictRate,
			SessEvictRate: ev.SessEvictRate, WaitHealthCheck: ptr.To(ptr.Deref(ev.WaitHealthCheck, DefaultWaitHealthCheck))},
	}

	dst.Spec.CoreTemplate = v2beta1.CoreTemplate{ObjectMeta: s.CoreTemplate.ObjectMeta, Spec: v2beta1.CoreTemplateSpec{
		ReplicantTemplateSpec:                podSpecToHub(s.CoreTemplate.Spec.ReplicantTemplateSpec, DefaultCoreReplicas, back.CoreToleRations),
		VolumeClaimTemplates:                 s.CoreTemplate.Spec.VolumeClaimTemplates,
		PersistentVolumeClaimRetentionPolicy: s.CoreTemplate.Spec.PersistentVolumeClaimRetentionPolicy,
	}}
	if r := s.ReplicantTemplate; r != nil {
		dst.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{ObjectMeta: r.ObjectMeta,
			Spec: podSpecToHub(r.Spec, DefaultReplicantReplicas, back.ReplicantToleRations)}
	}

	dst.Status = statusToHub(in.Status)
	return convert.PutAnnotation(&dst.ObjectMeta, ConversionAnnotation, keep, keep.empty())
}

// ConvertFrom converts the hub, v2beta1, to this v2 EMQX.
func (dst *EMQX) ConvertFrom(hub conversion.Hub) error {
	src, ok := hub.(*v2beta1.EMQX)
	if !ok {
		return fmt.Errorf("EMQX v2 converts from v2beta1 only, not from %T", hub)
	}
	in := src.DeepCopy()
	var keep unconverted

	dst.ObjectMeta = in.ObjectMeta
	s := &in.Spec
	dst.Spec = EMQXSpec{
		Image: s.Image, ImagePullPolicy: s.ImagePullPolicy, ImagePullSecrets: s.ImagePullSecrets,
		ServiceAccountName: s.ServiceAccountName, RestoreFrom: s.RestoreFrom, Monitoring: s.Monitoring,
		BootstrapAPIKeys: s.BootstrapAPIKeys, Config: s.Config, ClusterDomain: s.ClusterDomain,
		RevisionHistoryLimit:     s.RevisionHistoryLimit,
		DashboardServiceTemplate: s.DashboardServiceTemplate, ListenersServiceTemplate: s.ListenersServiceTemplate,
		License: s.License, TLS: s.TLS, Tuning: s.Tuning,
	}

	ev := s.UpdateStrategy.EvacuationStrategy.WithDefaultRates()
	dst.Spec.UpdateStrategy = UpdateStrategy{
		Type: s.UpdateStrategy.Type, InitialDelaySeconds: s.UpdateStrategy.InitialDelaySeconds,
		EvacuationStrategy: EvacuationStrategy{WaitTakeover: ev.WaitTakeover, ConnEvictRate: ev.ConnEvictRate,
			SessEvictRate: ev.SessEvictRate, WaitHealthCheck: ptr.To(ev.HealthCheckWait())},
	}

	core, coreTR := podSpecFromHub(s.CoreTemplate.Spec.ReplicantTemplateSpec, v2beta1.DefaultCoreReplicas)
	keep.CoreToleRations = coreTR
	dst.Spec.CoreTemplate = CoreTemplate{ObjectMeta: s.CoreTemplate.ObjectMeta, Spec: CoreTemplateSpec{
		ReplicantTemplateSpec:                core,
		VolumeClaimTemplates:                 s.CoreTemplate.Spec.VolumeClaimTemplates,
		PersistentVolumeClaimRetentionPolicy: s.CoreTemplate.Spec.PersistentVolumeClaimRetentionPolicy,
	}}
	if r := s.ReplicantTemplate; r != nil {
		spec, tr := podSpecFromHub(r.Spec, v2beta1.DefaultReplicantReplicas)
		keep.ReplicantToleRations = tr
		dst.Spec.ReplicantTemplate = &ReplicantTemplate{ObjectMeta: r.ObjectMeta, Spec: spec}
	}

	dst.Status = statusFromHub(in.Status, in.Name)
	return convert.PutAnnotation(&dst.ObjectMeta, ConversionAnnotation, keep, keep.empty())
}

// podSpecToHub converts a v2 pod spec. toleRations are the v2beta1 object's legacy toleRations
// that an earlier conversion appended to tolerations: while tolerations still end with them they
// are split off again; once the list was edited in v2 it is taken as it is (every entry applies
// either way).
func podSpecToHub(in ReplicantTemplateSpec, defaultReplicas int32, toleRations []corev1.Toleration) v2beta1.ReplicantTemplateSpec {
	out := v2beta1.ReplicantTemplateSpec{
		Replicas: in.Replicas, NodeSelector: in.NodeSelector, NodeName: in.NodeName, Affinity: in.Affinity,
		Tolerations: in.Tolerations, TopologySpreadConstraints: in.TopologySpreadConstraints,
		MinAvailable: in.MinAvailable, MaxUnavailable: in.MaxUnavailable,
		Command: in.Command, Args: in.Args, Ports: in.Ports, Env: in.Env, EnvFrom: in.EnvFrom, Resources: in.Resources,
		PodSecurityContext: in.PodSecurityContext, ContainerSecurityContext: in.ContainerSecurityContext,
		InitContainers: in.InitContainers, ExtraContainers: in.ExtraContainers,
		ExtraVolumes: in.ExtraVolumes, ExtraVolumeMounts: in.ExtraVolumeMounts,
		LivenessProbe: in.LivenessProbe, ReadinessProbe: in.ReadinessProbe, StartupProbe: in.StartupProbe, Lifecycle: in.Lifecycle,
	}
	if out.Replicas == nil {
		out.Replicas = ptr.To(defaultReplicas)
	}
	if out.PodSecurityContext == nil {
		out.PodSecurityContext = DefaultPodSecurityContext()
	}
	out.Tolerations, out.ToleRations = convert.SplitToleRations(in.Tolerations, toleRations)
	return out
}

// podSpecFromHub converts a v2beta1 pod spec and returns the legacy toleRations it moved to the end
// of tolerations.
func podSpecFromHub(in v2beta1.ReplicantTemplateSpec, defaultReplicas int32) (ReplicantTemplateSpec, []corev1.Toleration) {
	out := ReplicantTemplateSpec{
		Replicas: in.Replicas, NodeSelector: in.NodeSelector, NodeName: in.NodeName, Affinity: in.Affinity,
		Tolerations: in.Tolerations, TopologySpreadConstraints: in.TopologySpreadConstraints,
		MinAvailable: in.MinAvailable, MaxUnavailable: in.MaxUnavailable,
		Command: in.Command, Args: in.Args, Ports: in.Ports, Env: in.Env, EnvFrom: in.EnvFrom, Resources: in.Resources,
		PodSecurityContext: in.PodSecurityContext, ContainerSecurityContext: in.ContainerSecurityContext,
		InitContainers: in.InitContainers, ExtraContainers: in.ExtraContainers,
		ExtraVolumes: in.ExtraVolumes, ExtraVolumeMounts: in.ExtraVolumeMounts,
		LivenessProbe: in.LivenessProbe, ReadinessProbe: in.ReadinessProbe, StartupProbe: in.StartupProbe, Lifecycle: in.Lifecycle,
	}
	// v2beta1's defaults, materialised so that v2's own (two cores, another pod security context)
	// never apply to an object written as v2beta1.
	if out.Replicas == nil {
		out.Replicas = ptr.To(defaultReplicas)
	}
	if out.PodSecurityContext == nil {
		out.PodSecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(v2beta1.DefaultRunAsID),
			RunAsGroup: ptr.To(v2beta1.DefaultRunAsID), FSGroup: ptr.To(v2beta1.DefaultRunAsID)}
	}
	out.Tolerations = convert.JoinToleRations(in.Tolerations, in.ToleRations)
	return out, in.ToleRations
}

func statusToHub(in EMQXStatus) v2beta1.EMQXStatus {
	// NodeEvacuationsStatus has no v2beta1 field. The operator does not fill it yet: it will once
	// the controllers write this status (issue 17).
	return v2beta1.EMQXStatus{
		ObservedGeneration: in.ObservedGeneration, Phase: in.Phase, ReadyNodes: in.ReadyNodes, EMQXVersion: in.EMQXVersion,
		Conditions: in.Conditions, CoreNodes: nodesToHub(in.CoreNodes), CoreNodesStatus: in.CoreNodesStatus,
		ReplicantNodes: nodesToHub(in.ReplicantNodes), ReplicantNodesStatus: in.ReplicantNodesStatus,
		AppliedConfigRevision: in.AppliedConfigRevision, License: in.License, TLS: in.TLS,
		DSReplication: in.DSReplication, Restore: in.Restore, ReplicantNodesSelector: in.ReplicantNodesSelector,
	}
}

func statusFromHub(in v2beta1.EMQXStatus, cluster string) EMQXStatus {
	return EMQXStatus{
		ObservedGeneration: in.ObservedGeneration, Phase: in.Phase, ReadyNodes: in.ReadyNodes, EMQXVersion: in.EMQXVersion,
		Conditions: in.Conditions, CoreNodes: nodesFromHub(in.CoreNodes, cluster), CoreNodesStatus: in.CoreNodesStatus,
		ReplicantNodes: nodesFromHub(in.ReplicantNodes, cluster), ReplicantNodesStatus: in.ReplicantNodesStatus,
		AppliedConfigRevision: in.AppliedConfigRevision, License: in.License, TLS: in.TLS,
		DSReplication: in.DSReplication, Restore: in.Restore, ReplicantNodesSelector: in.ReplicantNodesSelector,
	}
}

// nodesToHub renames the node entries back: v2's sessions are v2beta1's connections, v2's
// connections its live_connections. The pod name is read again from the node name.
func nodesToHub(in []EMQXNode) []v2beta1.EMQXNode {
	if in == nil {
		return nil
	}
	out := make([]v2beta1.EMQXNode, len(in))
	for i, n := range in {
		out[i] = v2beta1.EMQXNode{Node: n.Name, NodeStatus: n.Status, OTPRelease: n.OTPRelease, Version: n.Version,
			Role: n.Role, Edition: n.Edition, Connections: n.Sessions, LiveConnections: n.Connections,
			PodUID: n.PodUID, ControllerUID: n.ControllerUID}
	}
	return out
}

func nodesFromHub(in []v2beta1.EMQXNode, cluster string) []EMQXNode {
	if in == nil {
		return nil
	}
	out := make([]EMQXNode, len(in))
	for i, n := range in {
		out[i] = EMQXNode{Name: n.Node, PodName: convert.PodOfNode(cluster, n.Node), Status: n.NodeStatus, OTPRelease: n.OTPRelease,
			Version: n.Version, Role: n.Role, Sessions: n.Connections, Connections: n.LiveConnections, Edition: n.Edition,
			PodUID: n.PodUID, ControllerUID: n.ControllerUID}
	}
	return out
}
