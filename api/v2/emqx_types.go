package v2

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// EMQX is one EMQX 5.x/6.x cluster: core nodes (a StatefulSet with the cluster's data on PVCs) and
// optional replicant nodes, with the Services, configuration and credentials they need.
//
// The status and scale subresources (the replicant template's replicas,
// .status.replicantNodesStatus.replicas and .status.replicantNodesSelector) and v2beta1's printer
// columns are declared when the version is served: controller-gen refuses them on a skipped
// version.
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

// EMQXSpec is the desired state of an EMQX cluster. Its fields mean what the v2beta1 fields of the
// same name mean; only some defaults (two cores, a 60 s waitHealthCheck, the pod security context)
// and the templates' lack of the legacy toleRations differ, as they do in the vendor's v2.
// +kubebuilder:validation:XValidation:rule="!has(self.replicantTemplate) || !has(self.replicantTemplate.spec.replicas) || self.replicantTemplate.spec.replicas == 0 || !has(self.coreTemplate.spec.replicas) || self.coreTemplate.spec.replicas > 0",message="replicant nodes need at least one core node: set coreTemplate.spec.replicas to 1 or more, or replicantTemplate.spec.replicas to 0"
type EMQXSpec struct {
	// Image is the EMQX container image, e.g. emqx/emqx-enterprise:5.8.6 or emqx/emqx:6.1.4.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self.trim() == self && !self.contains(' ')",message="image must not contain spaces"
	Image string `json:"image"`

	// ImagePullPolicy for the EMQX containers.
	// +kubebuilder:validation:Enum=Always;Never;IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// ImagePullSecrets for the EMQX pods.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// ServiceAccountName runs the EMQX pods as this ServiceAccount (default: one named after the
	// cluster, with no permissions).
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// RestoreFrom fills a new cluster with the data of a backup (as in v2beta1).
	// +optional
	RestoreFrom *v2beta1.RestoreFrom `json:"restoreFrom,omitempty"`

	// Monitoring: Prometheus scraping of the cluster's EMQX nodes (docs/monitoring.md).
	// +optional
	Monitoring *v2beta1.Monitoring `json:"monitoring,omitempty"`

	// BootstrapAPIKeys are extra API keys EMQX loads at start-up. Cannot be updated.
	// +kubebuilder:validation:MaxItems=99
	// +optional
	BootstrapAPIKeys []v2beta1.BootstrapAPIKey `json:"bootstrapAPIKeys,omitempty"`

	// Config is EMQX configuration in HOCON.
	// +kubebuilder:default={mode: "Merge"}
	// +optional
	Config v2beta1.Config `json:"config,omitempty"`

	// ClusterDomain is the cluster's DNS domain, used in node names and DNS discovery.
	// +kubebuilder:default="cluster.local"
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ClusterDomain string `json:"clusterDomain,omitempty"`

	// RevisionHistoryLimit is how many old revisions of the workloads are kept.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// UpdateStrategy says how pod-template changes reach running nodes.
	// +kubebuilder:default={type: "Recreate"}
	// +optional
	UpdateStrategy UpdateStrategy `json:"updateStrategy,omitempty"`

	// CoreTemplate describes the core nodes, which hold the cluster's data.
	// +kubebuilder:default={spec: {replicas: 2}}
	// +optional
	CoreTemplate CoreTemplate `json:"coreTemplate,omitempty"`

	// ReplicantTemplate describes the replicant nodes. Omit it for a cluster of core nodes only.
	// +optional
	ReplicantTemplate *ReplicantTemplate `json:"replicantTemplate,omitempty"`

	// DashboardServiceTemplate is the Service in front of the dashboard and REST API (port 18083).
	// +kubebuilder:default={enabled: true}
	// +optional
	DashboardServiceTemplate *v2beta1.ServiceTemplate `json:"dashboardServiceTemplate,omitempty"`

	// ListenersServiceTemplate is the Service in front of the MQTT listeners.
	// +kubebuilder:default={enabled: true}
	// +optional
	ListenersServiceTemplate *v2beta1.ServiceTemplate `json:"listenersServiceTemplate,omitempty"`

	// License is the EMQX licence, read from a Secret (as in v2beta1).
	// +optional
	License *v2beta1.License `json:"license,omitempty"`

	// TLS serves the TLS listeners with a certificate from a Secret or cert-manager (as in v2beta1).
	// +optional
	TLS *v2beta1.TLS `json:"tls,omitempty"`

	// Tuning sizes every node for many MQTT connections (as in v2beta1).
	// +optional
	Tuning *v2beta1.Tuning `json:"tuning,omitempty"`
}

// UpdateStrategy says how pod-template changes reach running nodes. Its defaults sit on the
// fields, as in the vendor's v2 (v2beta1 defaults the whole object).
type UpdateStrategy struct {
	// Type is kept for compatibility. Every template change is rolled out in place, one node at a
	// time, on the same StatefulSet and PVCs.
	// +kubebuilder:validation:Enum=Recreate
	// +kubebuilder:default=Recreate
	// +optional
	Type string `json:"type,omitempty"`

	// InitialDelaySeconds is how long a new node must have been ready before the next step.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	InitialDelaySeconds *int32 `json:"initialDelaySeconds,omitempty"`

	// EvacuationStrategy says how clients are moved off a node before it stops. Its default is an
	// empty object, so that its fields' defaults apply when it is left out (the vendor's v2 leaves it
	// absent, and with it every rate at zero).
	// +kubebuilder:default={}
	// +optional
	EvacuationStrategy EvacuationStrategy `json:"evacuationStrategy,omitempty"`
}

// EvacuationStrategy is passed to EMQX's node evacuation.
type EvacuationStrategy struct {
	// WaitTakeover is how many seconds to wait for sessions to be taken over before evicting them.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	WaitTakeover *int32 `json:"waitTakeover,omitempty"`

	// ConnEvictRate is how many connections per second are evicted.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	ConnEvictRate int32 `json:"connEvictRate,omitempty"`

	// SessEvictRate is how many sessions per second are evicted.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	SessEvictRate int32 `json:"sessEvictRate,omitempty"`

	// WaitHealthCheck is how many seconds EMQX waits, once a node is marked as evacuating, for load
	// balancers to stop sending it new clients before it evicts any.
	// A pointer, so that an explicit 0 is kept. Changing it changes every pod's preStop evacuation
	// and termination grace period, so the pods are rolled.
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	WaitHealthCheck *int32 `json:"waitHealthCheck,omitempty"`
}

// CoreTemplate describes the core nodes.
type CoreTemplate struct {
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={replicas: 2}
	// +optional
	Spec CoreTemplateSpec `json:"spec,omitempty"`
}

// ReplicantTemplate describes the replicant nodes.
type ReplicantTemplate struct {
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={replicas: 2}
	// +optional
	Spec ReplicantTemplateSpec `json:"spec,omitempty"`
}

// CoreTemplateSpec is a replicant spec plus the core nodes' storage.
type CoreTemplateSpec struct {
	ReplicantTemplateSpec `json:",inline"`

	// VolumeClaimTemplates is the PVC spec for each core node's data directory (/opt/emqx/data).
	// Despite the plural name it is a single PVC spec. Without it the data lives in an emptyDir.
	// +optional
	VolumeClaimTemplates corev1.PersistentVolumeClaimSpec `json:"volumeClaimTemplates,omitempty"`

	// PersistentVolumeClaimRetentionPolicy says what happens to core PVCs when the cluster is deleted
	// or scaled in. Both default to Retain.
	// +optional
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
}

// ReplicantTemplateSpec is the pod-level spec shared by core and replicant nodes: the v2beta1 one
// without the legacy toleRations spelling, which the vendor's v2 dropped.
// +kubebuilder:validation:XValidation:rule="!(has(self.minAvailable) && has(self.maxUnavailable))",message="set minAvailable or maxUnavailable for the PodDisruptionBudget, not both"
type ReplicantTemplateSpec struct {
	// Replicas is the number of nodes.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// Affinity replaces the default anti-affinity that spreads nodes over Kubernetes nodes.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// MinAvailable for the nodes' PodDisruptionBudget (exclusive with MaxUnavailable).
	// +kubebuilder:validation:XIntOrString
	// +optional
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// MaxUnavailable for the nodes' PodDisruptionBudget (default 1 when neither is set).
	// +kubebuilder:validation:XIntOrString
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// Ports are extra container ports, besides the dashboard and cluster ports.
	// +optional
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// PodSecurityContext defaults to the vendor's v2 default: uid/gid/fsGroup 1000.
	// +kubebuilder:default={runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, fsGroupChangePolicy: "Always", supplementalGroups: {1000}}
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`
	// ContainerSecurityContext defaults to uid/gid 1000, non-root.
	// +kubebuilder:default={runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true}
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
	// +kubebuilder:default={initialDelaySeconds: 10, periodSeconds: 5, failureThreshold: 12, httpGet: {path: "/status", port: "dashboard"}}
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// +optional
	StartupProbe *corev1.Probe `json:"startupProbe,omitempty"`
	// +optional
	Lifecycle *corev1.Lifecycle `json:"lifecycle,omitempty"`
}
