// Package values translates an EMQX resource into the values of the embedded emqx chart.
// It is a pure function of its inputs: no API calls, no clock, no randomness, so the same
// resource always renders the same manifests.
package values

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Values is the emqx chart's values.yaml, typed.
type Values struct {
	// Generation is EMQX's major release line: 5 (EMQX 5/6) or 4 (EMQX 4.4).
	Generation           int                           `json:"generation"`
	Cluster              Cluster                       `json:"cluster"`
	Image                string                        `json:"image"`
	ImagePullPolicy      corev1.PullPolicy             `json:"imagePullPolicy"`
	ImagePullSecrets     []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	RevisionHistoryLimit int32                         `json:"revisionHistoryLimit"`
	ServiceAccount       ServiceAccount                `json:"serviceAccount"`
	Secrets              SecretNames                   `json:"secrets"`
	Config               ConfigFile                    `json:"config"`
	Roles                Roles                         `json:"roles"`
	Services             []Service                     `json:"services"`
}

// Cluster holds cluster-wide names and labels.
type Cluster struct {
	Name            string            `json:"name"`
	Domain          string            `json:"domain"`
	Labels          map[string]string `json:"labels"`
	SelectorLabels  map[string]string `json:"selectorLabels"`
	HeadlessService string            `json:"headlessService"`
	DNSName         string            `json:"dnsName"`
}

// ServiceAccount says which ServiceAccount the pods use and whether the chart creates it.
type ServiceAccount struct {
	Create bool   `json:"create"`
	Name   string `json:"name"`
}

// SecretNames are the operator-made Secrets the pods read.
type SecretNames struct {
	Cookie           string `json:"cookie"`
	BootstrapAPIKeys string `json:"bootstrapAPIKeys"`
	Dashboard        string `json:"dashboard"`
}

// ConfigFile is emqx.conf and its checksum.
type ConfigFile struct {
	EMQXConf string `json:"emqxConf"`
	Checksum string `json:"checksum"`
}

// Roles holds the core and replicant workloads.
type Roles struct {
	Core      Role `json:"core"`
	Replicant Role `json:"replicant"`
}

// Role is one StatefulSet's values.
type Role struct {
	Enabled         bool                                                    `json:"enabled"`
	Workload        string                                                  `json:"workload,omitempty"`
	Replicas        int32                                                   `json:"replicas"`
	Labels          map[string]string                                       `json:"labels,omitempty"`
	Annotations     map[string]string                                       `json:"annotations,omitempty"`
	PodLabels       map[string]string                                       `json:"podLabels,omitempty"`
	PodAnnotations  map[string]string                                       `json:"podAnnotations,omitempty"`
	Pod             *Pod                                                    `json:"pod,omitempty"`
	Container       *Container                                              `json:"container,omitempty"`
	VolumeMounts    []corev1.VolumeMount                                    `json:"volumeMounts,omitempty"`
	Volumes         []corev1.Volume                                         `json:"volumes,omitempty"`
	ExtraContainers []corev1.Container                                      `json:"extraContainers,omitempty"`
	Persistence     *corev1.PersistentVolumeClaimSpec                       `json:"persistence,omitempty"`
	PVCRetention    *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"pvcRetention,omitempty"`
	PDB             map[string]any                                          `json:"pdb,omitempty"`
}

// Pod holds the pod-level fields the chart copies into the pod template.
type Pod struct {
	NodeSelector                  map[string]string                 `json:"nodeSelector,omitempty"`
	NodeName                      string                            `json:"nodeName,omitempty"`
	Affinity                      *corev1.Affinity                  `json:"affinity,omitempty"`
	Tolerations                   []corev1.Toleration               `json:"tolerations,omitempty"`
	TopologySpreadConstraints     []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	SecurityContext               *corev1.PodSecurityContext        `json:"securityContext,omitempty"`
	InitContainers                []corev1.Container                `json:"initContainers,omitempty"`
	TerminationGracePeriodSeconds *int64                            `json:"terminationGracePeriodSeconds,omitempty"`
	EnableServiceLinks            *bool                             `json:"enableServiceLinks,omitempty"`
}

// Container holds the EMQX container's fields besides name, image and volume mounts.
type Container struct {
	Command         []string                    `json:"command,omitempty"`
	Args            []string                    `json:"args,omitempty"`
	Ports           []corev1.ContainerPort      `json:"ports,omitempty"`
	Env             []corev1.EnvVar             `json:"env,omitempty"`
	EnvFrom         []corev1.EnvFromSource      `json:"envFrom,omitempty"`
	Resources       corev1.ResourceRequirements `json:"resources,omitempty"`
	SecurityContext *corev1.SecurityContext     `json:"securityContext,omitempty"`
	LivenessProbe   *corev1.Probe               `json:"livenessProbe,omitempty"`
	ReadinessProbe  *corev1.Probe               `json:"readinessProbe,omitempty"`
	StartupProbe    *corev1.Probe               `json:"startupProbe,omitempty"`
	Lifecycle       *corev1.Lifecycle           `json:"lifecycle,omitempty"`
}

// Service is a dashboard or listeners Service.
type Service struct {
	Name        string             `json:"name"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Annotations map[string]string  `json:"annotations,omitempty"`
	Spec        corev1.ServiceSpec `json:"spec"`
}
