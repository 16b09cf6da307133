package v2beta1

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CoreTemplate describes the core nodes.
type CoreTemplate struct {
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={replicas: 1}
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
	// Despite the plural name it is a single PVC spec, as in the v2beta1 API. Without it the data
	// lives in an emptyDir and is lost when a pod is deleted.
	// +optional
	VolumeClaimTemplates corev1.PersistentVolumeClaimSpec `json:"volumeClaimTemplates,omitempty"`

	// PersistentVolumeClaimRetentionPolicy says what happens to core PVCs when the cluster is deleted
	// or scaled in. Both default to Retain: data is never deleted unless asked for here.
	// +optional
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
}

// ReplicantTemplateSpec is the pod-level spec shared by core and replicant nodes.
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
	// ToleRations is the legacy spelling of Tolerations, still accepted; both lists are used.
	// +optional
	ToleRations []corev1.Toleration `json:"toleRations,omitempty"`
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

	// PodSecurityContext defaults to uid/gid/fsGroup 1000, non-root, RuntimeDefault seccomp.
	// +kubebuilder:default={runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000}
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`
	// ContainerSecurityContext defaults to Pod Security "restricted": non-root, no privilege
	// escalation, all capabilities dropped.
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
