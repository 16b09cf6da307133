package v3beta1

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/conversion"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/broker-ops/emqx-operator/api/internal/convert"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// ConversionAnnotation carries, on an object converted to another version, the fields that
// version cannot express, so that converting back restores them: nothing is lost in a round trip.
const ConversionAnnotation = "apps.emqx.io/v3beta1-conversion"

// unconverted is what ConversionAnnotation holds.
type unconverted struct {
	// On a v2beta1 object converted from v3beta1: fields the operator does not act on yet. Every
	// node is evacuated before it stops and replicants roll one at a time, the safe reading of
	// any of these values; minReadySeconds is not initialDelaySeconds (the vendor says so).
	EvacuationType           string                    `json:"evacuationType,omitempty"`
	Replicants               *ReplicantsUpdateStrategy `json:"replicants,omitempty"`
	CoreMinReadySeconds      int32                     `json:"coreMinReadySeconds,omitempty"`
	ReplicantMinReadySeconds int32                     `json:"replicantMinReadySeconds,omitempty"`

	// On a v3beta1 object converted from v2beta1: fields v3beta1 dropped.
	InitialDelaySeconds  *int32                    `json:"initialDelaySeconds,omitempty"`
	ConfigData           *string                   `json:"configData,omitempty"`
	ConfigMode           string                    `json:"configMode,omitempty"`
	BootstrapAPIKeys     []v2beta1.BootstrapAPIKey `json:"bootstrapAPIKeys,omitempty"`
	CoreToleRations      []corev1.Toleration       `json:"coreToleRations,omitempty"`
	ReplicantToleRations []corev1.Toleration       `json:"replicantToleRations,omitempty"`
	CoreBudget           *budget                   `json:"coreBudget,omitempty"`
	ReplicantBudget      *budget                   `json:"replicantBudget,omitempty"`
	// Template metadata beyond labels and annotations (v3beta1 keeps only those two).
	CoreMetadata      *metav1.ObjectMeta `json:"coreMetadata,omitempty"`
	ReplicantMetadata *metav1.ObjectMeta `json:"replicantMetadata,omitempty"`
	DashboardMetadata *metav1.ObjectMeta `json:"dashboardMetadata,omitempty"`
	ListenersMetadata *metav1.ObjectMeta `json:"listenersMetadata,omitempty"`
}

// budget is a v2beta1 template's PodDisruptionBudget setting.
type budget struct {
	MinAvailable   *intstr.IntOrString `json:"minAvailable,omitempty"`
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// Defaults of the vendor's v3beta1 that differ from v2beta1's, materialised at conversion so that
// each object keeps the defaults of the version it was written in.
const (
	DefaultCoreReplicas      int32 = 1
	DefaultReplicantReplicas int32 = 0
	DefaultWaitHealthCheck   int32 = 60
	// DefaultVolumeSize is the core volume v3beta1 gives a cluster whose core template is left out.
	DefaultVolumeSize = "500Mi"
)

// DefaultPodSecurityContext is v3beta1's (non-root; no supplemental groups).
func DefaultPodSecurityContext() *corev1.PodSecurityContext {
	always := corev1.FSGroupChangeAlways
	return &corev1.PodSecurityContext{RunAsUser: ptr.To(v2beta1.DefaultRunAsID), RunAsGroup: ptr.To(v2beta1.DefaultRunAsID),
		RunAsNonRoot: ptr.To(true), FSGroup: ptr.To(v2beta1.DefaultRunAsID), FSGroupChangePolicy: &always}
}

// DefaultCoreTemplate is what v3beta1 gives a cluster whose core template is left out: one core
// with a 500Mi volume.
func DefaultCoreTemplate() CoreTemplate {
	return CoreTemplate{Spec: CoreTemplateSpec{Replicas: ptr.To(DefaultCoreReplicas), PersistentVolumeClaimSpec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(DefaultVolumeSize)}},
	}}}
}

// DefaultLivenessProbe and DefaultReadinessProbe are v3beta1's probes (the readiness one asks
// EMQX whether the node takes clients, so an evacuating node leaves the Service).
func DefaultLivenessProbe() *corev1.Probe {
	return &corev1.Probe{InitialDelaySeconds: 60, PeriodSeconds: 30, FailureThreshold: 3,
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/status", Port: intstr.FromString("dashboard")}}}
}

func DefaultReadinessProbe() *corev1.Probe {
	return &corev1.Probe{InitialDelaySeconds: 10, PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 1,
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/api/v5/load_rebalance/availability_check", Port: intstr.FromString("dashboard")}}}
}

// isDefaultReplicantTemplate: the template holds zero replicants and nothing but what the API
// server's defaulting puts in an empty v3beta1 template.
func isDefaultReplicantTemplate(r ReplicantTemplate) bool {
	if ptr.Deref(r.Spec.Replicas, 0) != 0 {
		return false
	}
	p := r.Spec.PodTemplateSpec
	if p.PodSecurityContext != nil && !equality.Semantic.DeepEqual(p.PodSecurityContext, DefaultPodSecurityContext()) ||
		p.LivenessProbe != nil && !equality.Semantic.DeepEqual(p.LivenessProbe, DefaultLivenessProbe()) ||
		p.ReadinessProbe != nil && !equality.Semantic.DeepEqual(p.ReadinessProbe, DefaultReadinessProbe()) {
		return false
	}
	p.PodSecurityContext, p.LivenessProbe, p.ReadinessProbe = nil, nil, nil
	return equality.Semantic.DeepEqual(p, PodTemplateSpec{}) && equality.Semantic.DeepEqual(r.ObjectMeta, TemplateObjectMeta{})
}

var _ conversion.Convertible = &EMQX{}

// ConvertTo converts this v3beta1 EMQX to the hub, v2beta1. It refuses what the operator cannot
// do and must not ignore: a pod DNS config, and configuration roots that replace text the roots
// could not express.
func (src *EMQX) ConvertTo(hub conversion.Hub) error {
	dst, ok := hub.(*v2beta1.EMQX)
	if !ok {
		return fmt.Errorf("EMQX v3beta1 converts to v2beta1 only, not to %T", hub)
	}
	in := src.DeepCopy()
	back := convert.TakeAnnotation[unconverted](&in.ObjectMeta, ConversionAnnotation)
	var keep unconverted
	s := &in.Spec

	for role, p := range map[string]*PodTemplateSpec{"coreTemplate": &s.CoreTemplate.Spec.PodTemplateSpec, "replicantTemplate": &s.ReplicantTemplate.Spec.PodTemplateSpec} {
		if p.DNSConfig != nil {
			return fmt.Errorf("spec.%s.spec.dnsConfig is not supported by this operator yet: remove it (the pods use the cluster's DNS)", role)
		}
	}
	config, err := configToHub(s.Config, back)
	if err != nil {
		return err
	}

	dst.ObjectMeta = in.ObjectMeta
	dst.Spec = v2beta1.EMQXSpec{
		Image: s.Image, ImagePullPolicy: s.ImagePullPolicy, ImagePullSecrets: s.ImagePullSecrets,
		ServiceAccountName: s.ServiceAccountName, RestoreFrom: s.RestoreFrom, Monitoring: s.Monitoring,
		BootstrapAPIKeys: back.BootstrapAPIKeys, Config: config, ClusterDomain: s.ClusterDomain,
		RevisionHistoryLimit: s.RevisionHistoryLimit, License: s.License, TLS: s.TLS, Tuning: s.Tuning,
		DashboardServiceTemplate: serviceToHub(s.DashboardServiceTemplate, back.DashboardMetadata),
		ListenersServiceTemplate: serviceToHub(s.ListenersServiceTemplate, back.ListenersMetadata),
	}

	ev := s.UpdateStrategy.EvacuationStrategy
	if ev == (EvacuationStrategy{}) {
		ev = EvacuationStrategy{Type: "NodeEvacuation", ConnectionEvictionRate: 1000, SessionEvictionRate: 1000, WaitTakeover: ptr.To(int32(10)), WaitHealthCheck: ptr.To(DefaultWaitHealthCheck)}
	}
	// Every template change rolls out in place, one node at a time, as v3beta1's RollingUpdate
	// does; v2beta1 names that Recreate. v3beta1 has no initial delay and its minReadySeconds means
	// something else (the vendor's migration guide says not to map one to the other): a v3beta1
	// object gets v2beta1's 10 s, or the value it had in v2beta1 (an explicit 0 included).
	delay := ptr.To(v2beta1.DefaultInitialDelaySeconds)
	if back.InitialDelaySeconds != nil {
		delay = back.InitialDelaySeconds
	}
	dst.Spec.UpdateStrategy = v2beta1.UpdateStrategy{Type: "Recreate", InitialDelaySeconds: delay,
		EvacuationStrategy: v2beta1.EvacuationStrategy{WaitTakeover: ev.WaitTakeover, ConnEvictRate: ev.ConnectionEvictionRate,
			SessEvictRate: ev.SessionEvictionRate, WaitHealthCheck: ptr.To(ptr.Deref(ev.WaitHealthCheck, DefaultWaitHealthCheck))}}
	if ev.Type != "" && ev.Type != "NodeEvacuation" {
		keep.EvacuationType = ev.Type
	}
	keep.Replicants = s.UpdateStrategy.Replicants
	keep.CoreMinReadySeconds = s.CoreTemplate.Spec.MinReadySeconds
	keep.ReplicantMinReadySeconds = s.ReplicantTemplate.Spec.MinReadySeconds

	core := s.CoreTemplate
	if equality.Semantic.DeepEqual(core, CoreTemplate{}) {
		core = DefaultCoreTemplate() // written before the API server's defaults reached it
	}
	dst.Spec.CoreTemplate = v2beta1.CoreTemplate{ObjectMeta: metaToHub(core.ObjectMeta, back.CoreMetadata), Spec: v2beta1.CoreTemplateSpec{
		ReplicantTemplateSpec: podSpecToHub(core.Spec.PodTemplateSpec, ptr.Deref(core.Spec.Replicas, DefaultCoreReplicas), back.CoreToleRations, back.CoreBudget),
		VolumeClaimTemplates:  core.Spec.PersistentVolumeClaimSpec, PersistentVolumeClaimRetentionPolicy: core.Spec.PersistentVolumeClaimRetentionPolicy,
	}}
	// v3beta1 always has a replicant template; zero replicants with nothing but v3beta1's defaults
	// in it is no replicant template in v2beta1 (no replicant StatefulSet).
	r := s.ReplicantTemplate
	replicas := ptr.Deref(r.Spec.Replicas, DefaultReplicantReplicas)
	r.Spec.MinReadySeconds = 0 // kept apart above
	if replicas > 0 || !isDefaultReplicantTemplate(r) {
		dst.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{ObjectMeta: metaToHub(r.ObjectMeta, back.ReplicantMetadata),
			Spec: podSpecToHub(r.Spec.PodTemplateSpec, replicas, back.ReplicantToleRations, back.ReplicantBudget)}
	}

	dst.Status = statusToHub(in.Status)
	return convert.PutAnnotation(&dst.ObjectMeta, ConversionAnnotation, keep, equality.Semantic.DeepEqual(keep, unconverted{}))
}

// ConvertFrom converts the hub, v2beta1, to this v3beta1 EMQX.
func (dst *EMQX) ConvertFrom(hub conversion.Hub) error {
	src, ok := hub.(*v2beta1.EMQX)
	if !ok {
		return fmt.Errorf("EMQX v3beta1 converts from v2beta1 only, not from %T", hub)
	}
	in := src.DeepCopy()
	back := convert.TakeAnnotation[unconverted](&in.ObjectMeta, ConversionAnnotation)
	var keep unconverted
	s := &in.Spec

	dst.ObjectMeta = in.ObjectMeta
	dst.Spec = EMQXSpec{
		Image: s.Image, ImagePullPolicy: s.ImagePullPolicy, ImagePullSecrets: s.ImagePullSecrets,
		ServiceAccountName: s.ServiceAccountName, RestoreFrom: s.RestoreFrom, Monitoring: s.Monitoring,
		Config: configFromHub(s.Config, &keep), ClusterDomain: s.ClusterDomain, RevisionHistoryLimit: s.RevisionHistoryLimit,
		License: s.License, TLS: s.TLS, Tuning: s.Tuning,
	}
	keep.BootstrapAPIKeys = s.BootstrapAPIKeys
	dst.Spec.DashboardServiceTemplate, keep.DashboardMetadata = serviceFromHub(s.DashboardServiceTemplate)
	dst.Spec.ListenersServiceTemplate, keep.ListenersMetadata = serviceFromHub(s.ListenersServiceTemplate)

	ev := s.UpdateStrategy.EvacuationStrategy.WithDefaultRates()
	evType := "NodeEvacuation"
	if back.EvacuationType != "" {
		evType = back.EvacuationType
	}
	dst.Spec.UpdateStrategy = UpdateStrategy{Type: "RollingUpdate", Replicants: back.Replicants, EvacuationStrategy: EvacuationStrategy{
		Type: evType, ConnectionEvictionRate: ev.ConnEvictRate, SessionEvictionRate: ev.SessEvictRate, WaitTakeover: ev.WaitTakeover, WaitHealthCheck: ptr.To(ev.HealthCheckWait())}}

	// Unset and the default are the same delay, which converting back writes out; any other
	// value, 0 included, rides in the annotation.
	if delay := s.UpdateStrategy.InitialDelay(); delay != v2beta1.DefaultInitialDelaySeconds {
		keep.InitialDelaySeconds = ptr.To(delay)
	}
	corePod, coreTR, coreBudget, coreReplicas := podSpecFromHub(s.CoreTemplate.Spec.ReplicantTemplateSpec, v2beta1.DefaultCoreReplicas)
	corePod.MinReadySeconds = back.CoreMinReadySeconds
	keep.CoreToleRations, keep.CoreBudget = coreTR, coreBudget
	var coreMeta TemplateObjectMeta
	coreMeta, keep.CoreMetadata = metaFromHub(s.CoreTemplate.ObjectMeta)
	dst.Spec.CoreTemplate = CoreTemplate{ObjectMeta: coreMeta, Spec: CoreTemplateSpec{PodTemplateSpec: corePod, Replicas: coreReplicas,
		PersistentVolumeClaimSpec: s.CoreTemplate.Spec.VolumeClaimTemplates, PersistentVolumeClaimRetentionPolicy: s.CoreTemplate.Spec.PersistentVolumeClaimRetentionPolicy}}

	// No replicant template is v3beta1's zero replicants, written out so that its default never
	// applies.
	dst.Spec.ReplicantTemplate = ReplicantTemplate{Spec: ReplicantTemplateSpec{Replicas: ptr.To(int32(0))}}
	if r := s.ReplicantTemplate; r != nil {
		pod, tr, b, replicas := podSpecFromHub(r.Spec, v2beta1.DefaultReplicantReplicas)
		pod.MinReadySeconds = back.ReplicantMinReadySeconds
		keep.ReplicantToleRations, keep.ReplicantBudget = tr, b
		var meta TemplateObjectMeta
		meta, keep.ReplicantMetadata = metaFromHub(r.ObjectMeta)
		dst.Spec.ReplicantTemplate = ReplicantTemplate{ObjectMeta: meta, Spec: ReplicantTemplateSpec{PodTemplateSpec: pod, Replicas: replicas}}
	}

	dst.Status = statusFromHub(in)
	return convert.PutAnnotation(&dst.ObjectMeta, ConversionAnnotation, keep, equality.Semantic.DeepEqual(keep, unconverted{}))
}

// configToHub writes the roots as HOCON. Text an earlier conversion kept (v2beta1 text that is
// not its roots' rendering: comments, HOCON syntax, values the parser reads loosely) comes back
// as it was while the roots are left empty; roots never replace it, which could change or drop
// configuration.
func configToHub(c Config, back unconverted) (v2beta1.Config, error) {
	mode := v2beta1.DefaultConfigMode
	if back.ConfigMode != "" {
		mode = back.ConfigMode
	}
	if back.ConfigData != nil {
		if len(c.Roots) > 0 {
			return v2beta1.Config{}, fmt.Errorf("spec.config.roots cannot replace this cluster's configuration, which is HOCON text roots cannot show: edit spec.config.data through apps.emqx.io/v2beta1 instead")
		}
		return v2beta1.Config{Mode: mode, Data: *back.ConfigData}, nil
	}
	roots := map[string]json.RawMessage{}
	for k, v := range c.Roots {
		roots[k] = json.RawMessage(v.Raw)
	}
	data, err := emqxconf.FromRoots(roots)
	if err != nil {
		return v2beta1.Config{}, fmt.Errorf("spec.config.roots: %w", err)
	}
	return v2beta1.Config{Mode: mode, Data: data}, nil
}

// configFromHub shows v2beta1's text as roots when it is exactly their rendering (what a v3beta1
// write produced); any other text rides in the annotation, with no roots shown.
func configFromHub(c v2beta1.Config, keep *unconverted) Config {
	if c.Mode != "" && c.Mode != v2beta1.DefaultConfigMode {
		keep.ConfigMode = c.Mode
	}
	roots, ok := emqxconf.IsRootsRendering(c.Data)
	if !ok {
		keep.ConfigData = ptr.To(c.Data)
		return Config{}
	}
	if len(roots) == 0 {
		return Config{}
	}
	out := Config{Roots: map[string]apiextensionsv1.JSON{}}
	for k, v := range roots {
		out.Roots[k] = apiextensionsv1.JSON{Raw: v}
	}
	return out
}

func podSpecToHub(in PodTemplateSpec, replicas int32, toleRations []corev1.Toleration, b *budget) v2beta1.ReplicantTemplateSpec {
	out := v2beta1.ReplicantTemplateSpec{
		Replicas: ptr.To(replicas), NodeSelector: in.NodeSelector, NodeName: in.NodeName, Affinity: in.Affinity,
		Tolerations: in.Tolerations, TopologySpreadConstraints: in.TopologySpreadConstraints,
		Command: in.Command, Args: in.Args, Ports: in.Ports, Env: in.Env, EnvFrom: in.EnvFrom, Resources: in.Resources,
		PodSecurityContext: in.PodSecurityContext, ContainerSecurityContext: in.ContainerSecurityContext,
		InitContainers: in.InitContainers, ExtraContainers: in.ExtraContainers,
		ExtraVolumes: in.ExtraVolumes, ExtraVolumeMounts: in.ExtraVolumeMounts,
		LivenessProbe: in.LivenessProbe, ReadinessProbe: in.ReadinessProbe, StartupProbe: in.StartupProbe, Lifecycle: in.Lifecycle,
	}
	if out.PodSecurityContext == nil {
		out.PodSecurityContext = DefaultPodSecurityContext()
	}
	if b != nil {
		out.MinAvailable, out.MaxUnavailable = b.MinAvailable, b.MaxUnavailable
	}
	out.Tolerations, out.ToleRations = convert.SplitToleRations(in.Tolerations, toleRations)
	return out
}

// podSpecFromHub converts a v2beta1 pod spec; it returns the legacy toleRations moved to the end of
// tolerations, the PodDisruptionBudget setting v3beta1 dropped, and the replicas, v2beta1's
// default written out.
func podSpecFromHub(in v2beta1.ReplicantTemplateSpec, defaultReplicas int32) (PodTemplateSpec, []corev1.Toleration, *budget, *int32) {
	out := PodTemplateSpec{
		NodeSelector: in.NodeSelector, NodeName: in.NodeName, Affinity: in.Affinity,
		Tolerations: in.Tolerations, TopologySpreadConstraints: in.TopologySpreadConstraints,
		Command: in.Command, Args: in.Args, Ports: in.Ports, Env: in.Env, EnvFrom: in.EnvFrom, Resources: in.Resources,
		PodSecurityContext: in.PodSecurityContext, ContainerSecurityContext: in.ContainerSecurityContext,
		InitContainers: in.InitContainers, ExtraContainers: in.ExtraContainers,
		ExtraVolumes: in.ExtraVolumes, ExtraVolumeMounts: in.ExtraVolumeMounts,
		LivenessProbe: in.LivenessProbe, ReadinessProbe: in.ReadinessProbe, StartupProbe: in.StartupProbe, Lifecycle: in.Lifecycle,
	}
	// v2beta1's defaults written out: v3beta1's own (another readiness probe, no container
	// security context, another pod security context) never apply to an object written as v2beta1.
	if out.PodSecurityContext == nil {
		out.PodSecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(v2beta1.DefaultRunAsID),
			RunAsGroup: ptr.To(v2beta1.DefaultRunAsID), FSGroup: ptr.To(v2beta1.DefaultRunAsID)}
	}
	var b *budget
	if in.MinAvailable != nil || in.MaxUnavailable != nil {
		b = &budget{MinAvailable: in.MinAvailable, MaxUnavailable: in.MaxUnavailable}
	}
	replicas := ptr.To(ptr.Deref(in.Replicas, defaultReplicas))
	out.Tolerations = convert.JoinToleRations(in.Tolerations, in.ToleRations)
	return out, in.ToleRations, b, replicas
}

// metaToHub puts back the template metadata v3beta1 has no room for.
func metaToHub(in TemplateObjectMeta, rest *metav1.ObjectMeta) metav1.ObjectMeta {
	var out metav1.ObjectMeta
	if rest != nil {
		out = *rest
	}
	out.Labels, out.Annotations = in.Labels, in.Annotations
	return out
}

// metaFromHub splits template metadata into v3beta1's labels and annotations and the rest (nil
// when there is none).
func metaFromHub(in metav1.ObjectMeta) (TemplateObjectMeta, *metav1.ObjectMeta) {
	out := TemplateObjectMeta{Labels: in.Labels, Annotations: in.Annotations}
	in.Labels, in.Annotations = nil, nil
	if equality.Semantic.DeepEqual(in, metav1.ObjectMeta{}) {
		return out, nil
	}
	return out, &in
}

func serviceToHub(in *ServiceTemplate, rest *metav1.ObjectMeta) *v2beta1.ServiceTemplate {
	if in == nil {
		return nil
	}
	return &v2beta1.ServiceTemplate{Enabled: in.Enabled, ObjectMeta: metaToHub(in.ObjectMeta, rest), Spec: in.Spec}
}

func serviceFromHub(in *v2beta1.ServiceTemplate) (*ServiceTemplate, *metav1.ObjectMeta) {
	if in == nil {
		return nil, nil
	}
	meta, rest := metaFromHub(in.ObjectMeta)
	return &ServiceTemplate{Enabled: in.Enabled, ObjectMeta: meta, Spec: in.Spec}, rest
}

func statusToHub(in EMQXStatus) v2beta1.EMQXStatus {
	out := v2beta1.EMQXStatus{
		ObservedGeneration: in.ObservedGeneration, Phase: in.Phase, ReadyNodes: in.ReadyNodes, EMQXVersion: in.EMQXVersion,
		Conditions: in.Conditions, AppliedConfigRevision: in.AppliedConfigRevision, License: in.License, TLS: in.TLS,
		DSReplication: in.DSReplication, Restore: in.Restore, ReplicantNodesSelector: in.ReplicantSelector,
		CoreNodesStatus: v2beta1.EMQXNodesStatus{Replicas: in.CoreReplicas, ReadyReplicas: in.CoreNodesStatus.ReadyReplicas,
			CurrentReplicas: in.CoreNodesStatus.CurrentReplicas, UpdateReplicas: in.CoreNodesStatus.UpdatedReplicas},
		ReplicantNodesStatus: v2beta1.EMQXNodesStatus{Replicas: in.ReplicantReplicas, ReadyReplicas: in.ReplicantNodesStatus.ReadyReplicas,
			CurrentRevision: in.ReplicantNodesStatus.CurrentRevision, CurrentReplicas: in.ReplicantNodesStatus.CurrentReplicas,
			UpdateRevision: in.ReplicantNodesStatus.UpdateRevision, UpdateReplicas: in.ReplicantNodesStatus.UpdateReplicas},
	}
	if r := in.CoreRevisions; r != nil {
		out.CoreNodesStatus.CurrentRevision, out.CoreNodesStatus.UpdateRevision = r.Current, r.Update
	}
	// The release candidates listed cores and replicants apart; 3.0 lists them together.
	nodes := in.ClusterNodes
	if len(nodes) == 0 {
		nodes = append(append([]EMQXNode{}, in.CoreNodes...), in.ReplicantNodes...)
	}
	for _, n := range nodes {
		hn := v2beta1.EMQXNode{Node: n.Name, NodeStatus: n.Status, OTPRelease: n.OTPRelease, Version: n.Version, Role: n.Role,
			Edition: n.Edition, Connections: n.Sessions, LiveConnections: n.Connections, PodUID: n.PodUID, ControllerUID: n.ControllerUID}
		if n.Role == v2beta1.RoleReplicant {
			out.ReplicantNodes = append(out.ReplicantNodes, hn)
		} else {
			out.CoreNodes = append(out.CoreNodes, hn)
		}
	}
	return out
}

func statusFromHub(e *v2beta1.EMQX) EMQXStatus {
	in := e.Status
	out := EMQXStatus{
		Conditions: in.Conditions, CoreReplicas: in.CoreNodesStatus.Replicas, ReplicantReplicas: in.ReplicantNodesStatus.Replicas,
		CoreSelector:      labels.SelectorFromSet(e.RoleSelectorLabels(v2beta1.RoleCore)).String(),
		ReplicantSelector: in.ReplicantNodesSelector,
		CoreNodesStatus: CoreNodesStatus{ReadyReplicas: in.CoreNodesStatus.ReadyReplicas, UpdatedReplicas: in.CoreNodesStatus.UpdateReplicas,
			CurrentReplicas: in.CoreNodesStatus.CurrentReplicas},
		ReplicantNodesStatus: ReplicantNodesStatus{ReadyReplicas: in.ReplicantNodesStatus.ReadyReplicas,
			CurrentRevision: in.ReplicantNodesStatus.CurrentRevision, CurrentReplicas: in.ReplicantNodesStatus.CurrentReplicas,
			UpdateRevision: in.ReplicantNodesStatus.UpdateRevision, UpdateReplicas: in.ReplicantNodesStatus.UpdateReplicas},
		DSReplication: in.DSReplication, ObservedGeneration: in.ObservedGeneration, Phase: in.Phase, ReadyNodes: in.ReadyNodes,
		EMQXVersion: in.EMQXVersion, AppliedConfigRevision: in.AppliedConfigRevision, License: in.License, TLS: in.TLS, Restore: in.Restore,
	}
	if c := in.CoreNodesStatus; c.CurrentRevision != "" || c.UpdateRevision != "" {
		out.CoreRevisions = &Revisions{Current: c.CurrentRevision, Update: c.UpdateRevision}
	}
	for _, n := range append(append([]v2beta1.EMQXNode{}, in.CoreNodes...), in.ReplicantNodes...) {
		out.ClusterNodes = append(out.ClusterNodes, EMQXNode{Name: n.Node, PodName: convert.PodOfNode(e.Name, n.Node), Status: n.NodeStatus,
			OTPRelease: n.OTPRelease, Version: n.Version, Role: n.Role, Sessions: n.Connections, Connections: n.LiveConnections,
			Edition: n.Edition, PodUID: n.PodUID, ControllerUID: n.ControllerUID})
	}
	return out
}
