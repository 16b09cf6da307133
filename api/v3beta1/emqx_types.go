package v3beta1

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// EMQX is one EMQX 5.x/6.x cluster: core nodes (a StatefulSet with the cluster's data on PVCs) and
// optional replicant nodes, with the Services, configuration and credentials they need.
//
// The status and scale subresources (the replicant template's replicas, .status.replicantReplicas
// and .status.replicantSelector) and v2beta1's printer columns are declared when the version is
// served: controller-gen refuses them on a skipped version.
// +kubebuilder:object:root=true
// +kubebuilder:skipversion
// +kubebuilder:resource:path=emqxes,singular=emqx,shortName=emqx,categories=emqx-all
type EMQX struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EMQXSpec   `json:"spec,omitempty"`
	Status EMQXStatus `json:"status,omitempty"`
}

// EMQXList is a list of EMQX clusters.
// +kubebuilder:object:root=true
type EMQXList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EMQX `json:"items"`
}

// EMQXSpec is the desired state of an EMQX cluster, in the vendor's 3.0 shape.
// +kubebuilder:validation:XValidation:rule="self.replicantTemplate.spec.replicas == 0 || self.coreTemplate.spec.replicas >= 2",message="Core-replicant clusters require at least 2 core replicas for rolling updates."
type EMQXSpec struct {
	// Image is the EMQX container image.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self.trim() == self && !self.contains(' ')",message="image must not contain spaces"
	Image string `json:"image"`
	// +kubebuilder:validation:Enum=Always;Never;IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Config is EMQX configuration as top-level roots (license, listeners, log, dashboard …), each
	// a JSON value mirroring EMQX's HOCON schema.
	// +optional
	Config Config `json:"config,omitempty"`

	// +kubebuilder:default="cluster.local"
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// UpdateStrategy says how template changes reach running nodes.
	// +kubebuilder:default={type: "RollingUpdate"}
	// +optional
	UpdateStrategy UpdateStrategy `json:"updateStrategy,omitempty"`

	// CoreTemplate describes the core nodes. Left out, the cluster has one core with a 500Mi volume.
	// +kubebuilder:default={spec: {replicas: 1, persistentVolumeClaimSpec: {accessModes: {"ReadWriteOnce"}, resources: {requests: {storage: "500Mi"}}}}}
	// +optional
	CoreTemplate CoreTemplate `json:"coreTemplate,omitempty"`
	// ReplicantTemplate describes the replicant nodes (none by default).
	// +kubebuilder:default={spec: {replicas: 0}}
	// +optional
	ReplicantTemplate ReplicantTemplate `json:"replicantTemplate,omitempty"`

	// +optional
	DashboardServiceTemplate *ServiceTemplate `json:"dashboardServiceTemplate,omitempty"`
	// +optional
	ListenersServiceTemplate *ServiceTemplate `json:"listenersServiceTemplate,omitempty"`

	// The rest is this operator's, as in v2beta1.

	// +optional
	RestoreFrom *v2beta1.RestoreFrom `json:"restoreFrom,omitempty"`
	// +optional
	Monitoring *v2beta1.Monitoring `json:"monitoring,omitempty"`
	// +optional
	License *v2beta1.License `json:"license,omitempty"`
	// +optional
	TLS *v2beta1.TLS `json:"tls,omitempty"`
	// +optional
	Tuning *v2beta1.Tuning `json:"tuning,omitempty"`
}

// Config holds EMQX configuration roots. HOCON-only syntax (includes, substitutions) cannot be
// written this way, and node.cookie is reserved for the operator.
type Config struct {
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:XValidation:rule="!has(self.node) || type(self.node) != map || !has(self.node.cookie)",message="node.cookie is reserved for the operator"
	// +optional
	Roots map[string]apiextensionsv1.JSON `json:"roots,omitempty"`
}

// UpdateStrategy says how template changes reach running nodes: one node at a time, in place.
type UpdateStrategy struct {
	// +kubebuilder:validation:Enum=RollingUpdate
	// +kubebuilder:default=RollingUpdate
	// +optional
	Type string `json:"type,omitempty"`
	// +kubebuilder:default={type: "NodeEvacuation"}
	// +optional
	EvacuationStrategy EvacuationStrategy `json:"evacuationStrategy,omitempty"`
	// Replicants mirrors a Deployment's rolling update for the replicant nodes. It is kept, but
	// this operator replaces replicants one at a time, never with a surge (the reading that takes
	// the fewest nodes down) until it supports more.
	// +optional
	Replicants *ReplicantsUpdateStrategy `json:"replicants,omitempty"`
}

// EvacuationStrategy says how clients are moved off a node before it stops.
type EvacuationStrategy struct {
	// Type Disabled is accepted and kept, but this operator evacuates every node before it stops
	// (the reading that loses no client) until it supports skipping it.
	// +kubebuilder:validation:Enum=NodeEvacuation;Disabled
	// +kubebuilder:default=NodeEvacuation
	Type string `json:"type"`
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	ConnectionEvictionRate int32 `json:"connectionEvictionRate,omitempty"`
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	SessionEvictionRate int32 `json:"sessionEvictionRate,omitempty"`
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	WaitTakeover *int32 `json:"waitTakeover,omitempty"`
	// WaitHealthCheck is how many seconds an evacuating node keeps its clients while load balancers
	// notice it is leaving.
	// A pointer, so that an explicit 0 is kept. Changing it changes every pod's preStop evacuation
	// and termination grace period, so the pods are rolled.
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	WaitHealthCheck *int32 `json:"waitHealthCheck,omitempty"`
}

// ReplicantsUpdateStrategy bounds a replicant rollout, as a Deployment's rolling update does.
// +kubebuilder:validation:XValidation:rule="!(has(self.maxUnavailable) && (type(self.maxUnavailable) == int ? self.maxUnavailable == 0 : self.maxUnavailable.matches(r'^0+%$')) && (!has(self.maxSurge) || (type(self.maxSurge) == int ? self.maxSurge == 0 : self.maxSurge.matches(r'^0+%$'))))",message="maxUnavailable may not be 0 when maxSurge is 0",fieldPath=".maxUnavailable"
type ReplicantsUpdateStrategy struct {
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches(r'^0*(?:[0-9]{1,2}|100)%$')",message="must be a non-negative integer or a percentage between 0% and 100%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches(r'^[0-9]+%$')",message="must be a non-negative integer or percentage"
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
}

// TemplateObjectMeta is the metadata a template may give its pods.
type TemplateObjectMeta struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// CoreTemplate describes the core nodes.
type CoreTemplate struct {
	// +optional
	ObjectMeta TemplateObjectMeta `json:"metadata,omitempty"`
	// +kubebuilder:default={}
	// +optional
	Spec CoreTemplateSpec `json:"spec,omitempty"`
}

// ReplicantTemplate describes the replicant nodes.
type ReplicantTemplate struct {
	// +optional
	ObjectMeta TemplateObjectMeta `json:"metadata,omitempty"`
	// +kubebuilder:default={replicas: 0}
	// +optional
	Spec ReplicantTemplateSpec `json:"spec,omitempty"`
}

// CoreTemplateSpec is the pod spec of the core nodes, their count and their volume.
type CoreTemplateSpec struct {
	PodTemplateSpec `json:",inline"`
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// PersistentVolumeClaimSpec is each core node's data volume.
	// +optional
	PersistentVolumeClaimSpec corev1.PersistentVolumeClaimSpec `json:"persistentVolumeClaimSpec,omitempty"`
	// PersistentVolumeClaimRetentionPolicy is this operator's (as in v2beta1): both default to Retain.
	// +optional
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
}

// ReplicantTemplateSpec is the pod spec of the replicant nodes and their count.
type ReplicantTemplateSpec struct {
	PodTemplateSpec `json:",inline"`
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
}

// PodTemplateSpec is the pod-level spec shared by core and replicant nodes.
type PodTemplateSpec struct {
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// DNSConfig is refused: this operator does not set a pod DNS config yet.
	// +optional
	DNSConfig *corev1.PodDNSConfig `json:"dnsConfig,omitempty"`
	// MinReadySeconds is kept, but not acted on yet: a new node must have been ready for
	// v2beta1's updateStrategy.initialDelaySeconds (10 s) before the next one is replaced.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// +kubebuilder:validation:XValidation:rule="self.all(p, !has(p.name) || (p.name != 'dashboard' && p.name != 'dashboard-https'))",message="port names dashboard and dashboard-https are reserved by the Operator"
	// +optional
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// +kubebuilder:default={runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true, fsGroup: 1000, fsGroupChangePolicy: "Always"}
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`
	// +optional
	ContainerSecurityContext *corev1.SecurityContext `json:"containerSecurityContext,omitempty"`
	// +optional
	InitContainers []corev1.Container `json:"initContainers,omitempty"`
	// +optional
	ExtraContainers []corev1.Container `json:"extraContainers,omitempty"`
	// +optional
	ExtraVolumes []corev1.Volume `json:"extraVolumes,omitempty"`
	// +optional
	ExtraVolumeMounts []corev1.VolumeMount `json:"extraVolumeMounts,omitempty"`
	// +kubebuilder:default={initialDelaySeconds: 60, periodSeconds: 30, failureThreshold: 3, httpGet: {path: "/status", port: "dashboard"}}
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`
	// +kubebuilder:default={initialDelaySeconds: 10, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 1, httpGet: {path: "/api/v5/load_rebalance/availability_check", port: "dashboard"}}
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// +optional
	StartupProbe *corev1.Probe `json:"startupProbe,omitempty"`
	// +optional
	Lifecycle *corev1.Lifecycle `json:"lifecycle,omitempty"`
}

// ServiceTemplate describes a Service the operator creates.
type ServiceTemplate struct {
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// +optional
	ObjectMeta TemplateObjectMeta `json:"metadata,omitempty"`
	// +optional
	Spec corev1.ServiceSpec `json:"spec,omitempty"`
}
