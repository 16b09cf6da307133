package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// EmqxSpec holds the fields both kinds share: the pods of one EMQX 4.4 cluster, every node a
// full member (EMQX 4 has no replicant role).
type EmqxSpec struct {
	// Replicas is the number of EMQX nodes.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Image is the EMQX 4.4 image, e.g. emqx/emqx-ee:4.4.1.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// ServiceAccountName is the pods' ServiceAccount; empty: the operator makes one, allowed to read
	// the endpoints EMQX 4's Kubernetes cluster discovery looks up.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// Storage is the claim each node's /opt/emqx/data lives on; empty: an emptyDir.
	// +optional
	Storage *corev1.PersistentVolumeClaimSpec `json:"storage,omitempty"`
	// Labels go on the pods and Services.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations go on the pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// ToleRations keeps the old API's spelling.
	// +optional
	ToleRations []corev1.Toleration `json:"toleRations,omitempty"`
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	ExtraVolumes []corev1.Volume `json:"extraVolumes,omitempty"`
	// +optional
	ExtraVolumeMounts []corev1.VolumeMount `json:"extraVolumeMounts,omitempty"`
	// Env is passed to the EMQX container as given: EMQX 4 reads its configuration from EMQX_*
	// variables. A variable set here wins over the operator's.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	// TelegrafTemplate adds a Telegraf sidecar that reads EMQX's metrics and logs.
	// +optional
	TelegrafTemplate *TelegrafTemplate `json:"telegrafTemplate,omitempty"`
}

// EmqxBrokerTemplate configures EMQX itself.
type EmqxBrokerTemplate struct {
	// +optional
	Listener Listener `json:"listener,omitempty"`
	// ACL is written to etc/acl.conf in order; empty: EMQX's default file.
	// +optional
	ACL []ACL `json:"acl,omitempty"`
	// Plugins is written to data/loaded_plugins; empty: EMQX's default.
	// +optional
	Plugins []Plugin `json:"plugins,omitempty"`
	// Modules is written to data/loaded_modules (EmqxEnterprise: with their configs).
	// +optional
	Modules []Module `json:"modules,omitempty"`
}

// EmqxEnterpriseTemplate adds the licence to the broker's template.
// +kubebuilder:validation:XValidation:rule="!(has(self.license) && has(self.licenseSecretName))",message="license and licenseSecretName are mutually exclusive"
type EmqxEnterpriseTemplate struct {
	EmqxBrokerTemplate `json:",inline"`
	// License is the licence file's content. The operator keeps it in a Secret, mounts it as the
	// licence file and, on a running cluster, loads a new one without restarting nodes.
	// +optional
	License string `json:"license,omitempty"`
	// LicenseSecretName names a Secret holding the licence file under the key emqx.lic, instead of
	// License (not in the original API).
	// +optional
	LicenseSecretName string `json:"licenseSecretName,omitempty"`
}

// Listener is the MQTT listeners' Service and the listeners' certificates.
type Listener struct {
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=ClusterIP
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// +optional
	LoadBalancerIP string `json:"loadBalancerIP,omitempty"`
	// +optional
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`
	// +optional
	ExternalIPs []string `json:"externalIPs,omitempty"`
	// +optional
	Ports Ports `json:"ports,omitempty"`
	// +optional
	NodePorts Ports `json:"nodePorts,omitempty"`
	// +optional
	Certificate Certificates `json:"certificate,omitempty"`
}

// Ports are the listener and management ports; zero means the default (or, for nodePorts, one the
// API server picks).
type Ports struct {
	// +optional
	MQTT int32 `json:"mqtt,omitempty"`
	// +optional
	MQTTS int32 `json:"mqtts,omitempty"`
	// +optional
	WS int32 `json:"ws,omitempty"`
	// +optional
	WSS int32 `json:"wss,omitempty"`
	// +optional
	Dashboard int32 `json:"dashboard,omitempty"`
	// +optional
	API int32 `json:"api,omitempty"`
}

// Certificates are the TLS listeners' certificates.
type Certificates struct {
	// +optional
	MQTTS *CertificateData `json:"mqtts,omitempty"`
	// +optional
	WSS *CertificateData `json:"wss,omitempty"`
}

// CertificateData holds ca.crt, tls.crt and tls.key, like a Secret's data or stringData.
type CertificateData struct {
	// +optional
	Data map[string][]byte `json:"data,omitempty"`
	// +optional
	StringData map[string]string `json:"stringData,omitempty"`
}

// ACL is one rule of etc/acl.conf.
type ACL struct {
	// +kubebuilder:validation:Enum=allow;deny
	Permission string `json:"permission"`
	// +optional
	Username string `json:"username,omitempty"`
	// +optional
	ClientID string `json:"clientid,omitempty"`
	// +optional
	IPAddress string `json:"ipaddress,omitempty"`
	// +kubebuilder:validation:Enum=publish;subscribe;pubsub
	// +optional
	Action string `json:"action,omitempty"`
	// +optional
	Topics ACLTopics `json:"topics,omitempty"`
}

// ACLTopics are topic filters and exact topics (eq).
type ACLTopics struct {
	// +optional
	Filter []string `json:"filter,omitempty"`
	// +optional
	Equal []string `json:"equal,omitempty"`
}

// Plugin is one line of data/loaded_plugins.
type Plugin struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9_]+$`
	Name   string `json:"name"`
	Enable bool   `json:"enable"`
}

// Module is one EMQX module.
type Module struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9_]+$`
	Name   string `json:"name"`
	Enable bool   `json:"enable"`
	// Configs are the module's settings (EMQX Enterprise modules only).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Configs *runtime.RawExtension `json:"configs,omitempty"`
}

// TelegrafTemplate is the optional Telegraf sidecar.
type TelegrafTemplate struct {
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// Conf is telegraf.conf.
	// +optional
	Conf *string `json:"conf,omitempty"`
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
}

// EmqxStatus is what the operator observed of the cluster.
type EmqxStatus struct {
	// Conditions use this API's types: Creating, Running, Healthy, Scaling, ScalingDown, Updating,
	// Upgrading, Failed.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// EmqxNodes are the running nodes as GET /api/v4/nodes lists them.
	// +optional
	EmqxNodes []EmqxNode `json:"emqxNodes,omitempty"`
	// LicenseRevision identifies the licence the cluster runs with (a hash of the file, never the
	// licence itself).
	// +optional
	LicenseRevision string `json:"licenseRevision,omitempty"`
	// RejectedLicenseRevision is a licence EMQX refused: it is not offered again, and the pods keep
	// mounting the licence in effect, until the spec's licence changes.
	// +optional
	RejectedLicenseRevision string `json:"rejectedLicenseRevision,omitempty"`
	// ListenerCertificates are the TLS listeners' certificates the operator put in place, and
	// whether the listener was restarted to serve them.
	// +listType=map
	// +listMapKey=listener
	// +optional
	ListenerCertificates []ListenerCertificate `json:"listenerCertificates,omitempty"`
}

// ListenerCertificate is one TLS listener's certificate as the operator rolled it out.
type ListenerCertificate struct {
	// Listener is EMQX 4's listener name, e.g. mqtt:ssl:external.
	Listener string `json:"listener"`
	// Revision identifies the certificate files (a hash, never the key).
	Revision string `json:"revision"`
	// UpdatedAt is when the operator wrote them to the listener's Secret.
	UpdatedAt metav1.Time `json:"updatedAt"`
	// Restarted: the listener was restarted after the kubelet had time to update the files.
	Restarted bool `json:"restarted"`
}

// EmqxNode is one node of GET /api/v4/nodes.
type EmqxNode struct {
	Node       string `json:"node"`
	NodeStatus string `json:"node_status"`
	// +optional
	OTPRelease string `json:"otp_release,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Connections int64 `json:"connections,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=emqx-ee,categories=emqx-all
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=".spec.replicas"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=".status.readyReplicas"
// +kubebuilder:printcolumn:name="Healthy",type=string,JSONPath=".status.conditions[?(@.type==\"Healthy\")].status",description="EMQX reports every node running"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=".spec.image"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"

// EmqxEnterprise is an EMQX Enterprise 4.4 cluster.
type EmqxEnterprise struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EmqxEnterpriseSpec `json:"spec"`
	Status EmqxStatus         `json:"status,omitempty"`
}

// EmqxEnterpriseSpec is an Enterprise cluster's spec.
type EmqxEnterpriseSpec struct {
	EmqxSpec `json:",inline"`
	// +optional
	EmqxTemplate EmqxEnterpriseTemplate `json:"emqxTemplate,omitempty"`
}

// +kubebuilder:object:root=true

// EmqxEnterpriseList is a list of EmqxEnterprise.
type EmqxEnterpriseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EmqxEnterprise `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=emqx-broker,categories=emqx-all
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=".spec.replicas"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=".status.readyReplicas"
// +kubebuilder:printcolumn:name="Healthy",type=string,JSONPath=".status.conditions[?(@.type==\"Healthy\")].status",description="EMQX reports every node running"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=".spec.image"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"

// EmqxBroker is an EMQX (open source) 4.4 cluster.
type EmqxBroker struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EmqxBrokerSpec `json:"spec"`
	Status EmqxStatus     `json:"status,omitempty"`
}

// EmqxBrokerSpec is an open-source cluster's spec.
type EmqxBrokerSpec struct {
	EmqxSpec `json:",inline"`
	// +optional
	EmqxTemplate EmqxBrokerTemplate `json:"emqxTemplate,omitempty"`
}

// +kubebuilder:object:root=true

// EmqxBrokerList is a list of EmqxBroker.
type EmqxBrokerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EmqxBroker `json:"items"`
}

func init() {
	SchemeBuilder.Register(&EmqxEnterprise{}, &EmqxEnterpriseList{}, &EmqxBroker{}, &EmqxBrokerList{})
}
