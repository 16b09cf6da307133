package v2beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EMQX is one EMQX 5.x/6.x cluster: core nodes (a StatefulSet with the cluster's data on PVCs) and
// optional replicant nodes, with the Services, configuration and credentials they need.
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=emqxes,singular=emqx,shortName=emqx,categories=emqx-all
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicantTemplate.spec.replicas,statuspath=.status.replicantNodesStatus.replicas,selectorpath=.status.replicantNodesSelector
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=".status.phase",description="Summary of the newest condition"
// +kubebuilder:printcolumn:name="Ready Nodes",type=string,JSONPath=".status.readyNodes",description="EMQX nodes running in the cluster / nodes wanted"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=".spec.image"
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=".status.emqxVersion",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
// +kubebuilder:storageversion
// +operator-sdk:csv:customresourcedefinitions:displayName="EMQX cluster",resources={{StatefulSet,v1},{Service,v1},{ConfigMap,v1},{Secret,v1},{PodDisruptionBudget,v1},{ServiceAccount,v1}}
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

// EMQXSpec is the desired state of an EMQX cluster.
// +kubebuilder:validation:XValidation:rule="!has(self.replicantTemplate) || !has(self.replicantTemplate.spec.replicas) || self.replicantTemplate.spec.replicas == 0 || !has(self.coreTemplate.spec.replicas) || self.coreTemplate.spec.replicas > 0",message="replicant nodes need at least one core node: set coreTemplate.spec.replicas to 1 or more, or replicantTemplate.spec.replicas to 0"
type EMQXSpec struct {
	// Image is the EMQX container image, e.g. emqx/emqx-enterprise:5.8.6 or emqx/emqx:6.1.4.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self.trim() == self && !self.contains(' ')",message="image must not contain spaces"
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="EMQX image"
	Image string `json:"image"`

	// ImagePullPolicy for the EMQX containers.
	// +kubebuilder:validation:Enum=Always;Never;IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// ImagePullSecrets for the EMQX pods.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// ServiceAccountName runs the EMQX pods as this ServiceAccount. When empty the operator creates one
	// named after the cluster, with no permissions (DNS discovery needs none).
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// RestoreFrom fills a new cluster with the data of a backup: once its core nodes have joined,
	// the operator imports that backup (an EMQXRestore named <cluster>-restore, owned by the
	// cluster), and the cluster turns Ready only after the import succeeded. It runs once per
	// cluster: changing or removing the field later does nothing to the data.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Restore from"
	RestoreFrom *RestoreFrom `json:"restoreFrom,omitempty"`

	// Monitoring: Prometheus scraping of the cluster's EMQX nodes (docs/monitoring.md).
	// +optional
	Monitoring *Monitoring `json:"monitoring,omitempty"`

	// BootstrapAPIKeys are extra API keys EMQX loads at start-up, besides the one the operator
	// generates for itself.
	// +kubebuilder:validation:MaxItems=99
	// +optional
	BootstrapAPIKeys []BootstrapAPIKey `json:"bootstrapAPIKeys,omitempty"`

	// Config is EMQX configuration in HOCON, written to emqx.conf on every node.
	// +kubebuilder:default={mode: "Merge"}
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Configuration (HOCON)"
	Config Config `json:"config,omitempty"`

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
	// +kubebuilder:default={type: "Recreate", initialDelaySeconds: 10, evacuationStrategy: {waitTakeover: 10, connEvictRate: 1000, sessEvictRate: 1000, waitHealthCheck: 10}}
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Update strategy"
	UpdateStrategy UpdateStrategy `json:"updateStrategy,omitempty"`

	// CoreTemplate describes the core nodes, which hold the cluster's data.
	// +kubebuilder:default={spec: {replicas: 1}}
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Core nodes"
	CoreTemplate CoreTemplate `json:"coreTemplate,omitempty"`

	// ReplicantTemplate describes the replicant nodes (stateless; they serve clients and follow the cores).
	// Omit it for a cluster of core nodes only.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Replicant nodes"
	ReplicantTemplate *ReplicantTemplate `json:"replicantTemplate,omitempty"`

	// DashboardServiceTemplate is the Service in front of the dashboard and REST API (port 18083).
	// +kubebuilder:default={enabled: true}
	// +optional
	DashboardServiceTemplate *ServiceTemplate `json:"dashboardServiceTemplate,omitempty"`

	// License is the EMQX licence, read from a Secret. A new key is applied to the running cluster
	// at once (no restart) after EMQX accepted it; a key EMQX rejects is never rolled out. Without
	// this field a licence in config.data (license { key = ... }) keeps working.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Licence"
	License *License `json:"license,omitempty"`

	// TLS serves the MQTT-over-TLS (8883) and WebSocket-over-TLS (8084) listeners, and optionally
	// the dashboard (HTTPS on 18084), with a certificate from a kubernetes.io/tls Secret or from a
	// cert-manager Certificate the operator creates. A rotated certificate is served without
	// restarting any pod; one that does not validate is never rolled out.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="TLS for the listeners"
	TLS *TLS `json:"tls,omitempty"`

	// Tuning sizes every node for many MQTT connections from one field: EMQX's node and listener
	// limits, the pod sysctls Kubernetes allows, and, only when asked, unsafe namespaced sysctls
	// and node-wide kernel settings (docs/million-connections.md). A setting you give yourself in
	// config.data or a template's env wins.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Tuning for many connections"
	Tuning *Tuning `json:"tuning,omitempty"`

	// ListenersServiceTemplate is the Service in front of the MQTT listeners.
	// +kubebuilder:default={enabled: true}
	// +optional
	ListenersServiceTemplate *ServiceTemplate `json:"listenersServiceTemplate,omitempty"`
}

// License points at the licence key and says when to warn before it expires.
type License struct {
	// SecretRef names the Secret key holding the licence key.
	SecretRef KeyRef `json:"secretRef"`
	// ExpiryWarningDays: a Warning Event and condition when the licence expires within this many days.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=0
	// +optional
	ExpiryWarningDays int32 `json:"expiryWarningDays,omitempty"`
}

// Tuning is the million-connection profile.
type Tuning struct {
	// ConnectionsPerNode is how many MQTT connections one node should hold, e.g. 200000 for the
	// seed article's 1M connections on 5 nodes. It sizes node.process_limit, node.max_ports,
	// node.dist_buffer_size and the MQTT listeners' acceptors, max_connections, max_conn_rate and
	// backlog.
	// +kubebuilder:validation:Minimum=1000
	// +kubebuilder:validation:Maximum=10000000
	ConnectionsPerNode int64 `json:"connectionsPerNode"`
	// UnsafeSysctls also sets namespaced sysctls the kubelet refuses unless it allows them
	// (--allowed-unsafe-sysctls): net.core.somaxconn, net.ipv4.tcp_max_syn_backlog,
	// net.ipv4.tcp_tw_reuse, net.ipv4.tcp_max_tw_buckets, net.ipv4.tcp_rmem, net.ipv4.tcp_wmem.
	// A kubelet that refuses them is reported in the PodsAdmitted condition.
	// +optional
	UnsafeSysctls bool `json:"unsafeSysctls,omitempty"`
	// NodeTuning runs a privileged init container that writes node-wide kernel settings
	// (fs.file-max, fs.nr_open, net.core buffers and backlog, tcp_mem, udp_mem, conntrack). It
	// changes the whole Kubernetes node, for every pod on it, and needs a namespace whose Pod
	// Security allows privileged pods. Prefer tuning nodes with your node provisioning instead.
	// +optional
	NodeTuning bool `json:"nodeTuning,omitempty"`
}

// TLS says where the listeners' certificate comes from.
// +kubebuilder:validation:XValidation:rule="has(self.secretName) != has(self.certManager)",message="tls needs exactly one of secretName (a kubernetes.io/tls Secret you manage) or certManager (a Certificate the operator creates)"
type TLS struct {
	// SecretName is a kubernetes.io/tls Secret in the cluster's namespace (tls.crt, tls.key and
	// optionally ca.crt). The operator validates every change before the nodes see it.
	// +kubebuilder:validation:MinLength=1
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// CertManager asks cert-manager for the certificate: the operator creates and owns a
	// cert-manager.io/v1 Certificate and serves the Secret cert-manager issues.
	// +optional
	CertManager *CertManagerCertificate `json:"certManager,omitempty"`
	// DNSNames the certificate must cover. Default: the listeners Service's names
	// (<service>, <service>.<namespace>, <service>.<namespace>.svc and its cluster-domain form).
	// +kubebuilder:validation:MaxItems=100
	// +optional
	DNSNames []string `json:"dnsNames,omitempty"`
	// Dashboard also serves the dashboard and REST API over HTTPS on port 18084 (HTTP on 18083 stays,
	// for the operator and probes).
	// +optional
	Dashboard bool `json:"dashboard,omitempty"`
}

// CertManagerCertificate is what the operator puts into the cert-manager Certificate it creates.
type CertManagerCertificate struct {
	// IssuerRef is the cert-manager Issuer or ClusterIssuer that signs the certificate.
	IssuerRef IssuerRef `json:"issuerRef"`
	// Duration of the certificate (cert-manager's default when unset).
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// RenewBefore: how long before expiry cert-manager renews it (cert-manager's default when unset).
	// +optional
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
}

// IssuerRef names a cert-manager issuer.
type IssuerRef struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Kind is Issuer (default) or ClusterIssuer.
	// +kubebuilder:default=Issuer
	// +optional
	Kind string `json:"kind,omitempty"`
	// Group is the issuer's API group (default cert-manager.io).
	// +kubebuilder:default="cert-manager.io"
	// +optional
	Group string `json:"group,omitempty"`
}

// BootstrapAPIKey is an API key loaded from EMQX's bootstrap file: given inline or from Secrets.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != (has(self.key) || has(self.secret))",message="give either key and secret, or secretRef, not both"
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) || (has(self.key) && has(self.secret))",message="an inline bootstrap API key needs both key and secret"
type BootstrapAPIKey struct {
	// Key is the API key name.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z\d\-_]+$`
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Key string `json:"key,omitempty"`

	// Secret is the API secret.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Secret string `json:"secret,omitempty"`

	// SecretRef reads the key and the secret from Secrets in the cluster's namespace.
	// +optional
	SecretRef *BootstrapAPIKeySecretRef `json:"secretRef,omitempty"`
}

// BootstrapAPIKeySecretRef points at the Secret keys holding an API key and its secret.
type BootstrapAPIKeySecretRef struct {
	Key    KeyRef `json:"key"`
	Secret KeyRef `json:"secret"`
}

// KeyRef names one key of one Secret.
type KeyRef struct {
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`
	// +kubebuilder:validation:MinLength=1
	SecretKey string `json:"secretKey"`
}

// Config is EMQX configuration in HOCON.
type Config struct {
	// Mode says how Data is applied to a running cluster: Merge merges it into the running
	// configuration, Replace replaces the configuration roots it names.
	// +kubebuilder:validation:Enum=Merge;Replace
	// +kubebuilder:default=Merge
	// +optional
	Mode string `json:"mode,omitempty"`

	// Data is HOCON text, e.g. `listeners.tcp.default.max_connections = 1024000`.
	// +kubebuilder:validation:MaxLength=1048576
	// +optional
	Data string `json:"data,omitempty"`
}

// UpdateStrategy says how pod-template changes reach running nodes.
type UpdateStrategy struct {
	// Type is kept for compatibility with the v2beta1 API. Every template change is rolled out in
	// place, one node at a time, on the same StatefulSet and PVCs.
	// +kubebuilder:validation:Enum=Recreate
	// +kubebuilder:default=Recreate
	// +optional
	Type string `json:"type,omitempty"`

	// InitialDelaySeconds is how long a new node must have been ready before the next step.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +optional
	InitialDelaySeconds *int32 `json:"initialDelaySeconds,omitempty"`

	// EvacuationStrategy says how clients are moved off a node before it stops.
	// +kubebuilder:default={waitTakeover: 10, connEvictRate: 1000, sessEvictRate: 1000, waitHealthCheck: 10}
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

	// WaitHealthCheck is how many seconds an evacuating node keeps its clients while load balancers
	// notice it is leaving (EMQX's availability check answers 503 from the start), before it evicts
	// any. Raise it to your load balancer's health-check interval times its failure threshold.
	// Changing it rolls the pods: their preStop evacuation and grace period follow it.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	WaitHealthCheck *int32 `json:"waitHealthCheck,omitempty"`
}

// HealthCheckWait is WaitHealthCheck, or its default when unset.
func (e EvacuationStrategy) HealthCheckWait() int32 {
	if e.WaitHealthCheck == nil {
		return WaitHealthCheckSeconds
	}
	return *e.WaitHealthCheck
}

// TakeoverWait is WaitTakeover, or its default when unset. WaitTakeover is a pointer, as are the
// other defaulted numbers that may be 0, because Go's omitempty drops a 0: the next write would
// leave the field out and the API server's defaulting would put the default back.
func (e EvacuationStrategy) TakeoverWait() int32 {
	if e.WaitTakeover == nil {
		return DefaultWaitTakeover
	}
	return *e.WaitTakeover
}

// InitialDelay is InitialDelaySeconds, or its default when unset.
func (u UpdateStrategy) InitialDelay() int32 {
	if u.InitialDelaySeconds == nil {
		return DefaultInitialDelaySeconds
	}
	return *u.InitialDelaySeconds
}

// ServiceTemplate describes a Service the operator creates.
type ServiceTemplate struct {
	// Enabled creates the Service; false leaves it out.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is merged over the operator's defaults (type, ports, selector).
	// +optional
	Spec corev1.ServiceSpec `json:"spec,omitempty"`
}

// IsEnabled reports whether the Service is wanted (true unless explicitly disabled).
func (t *ServiceTemplate) IsEnabled() bool {
	return t == nil || t.Enabled == nil || *t.Enabled
}

// RestoreFrom names the backup a new cluster starts from.
type RestoreFrom struct {
	// BackupName is an EMQXBackup of the namespace (it must have succeeded).
	// +kubebuilder:validation:MinLength=1
	BackupName string `json:"backupName"`
}

// Monitoring is how Prometheus reads the cluster's EMQX nodes.
type Monitoring struct {
	// PodMonitor makes the operator own a PodMonitor (the Prometheus Operator's
	// monitoring.coreos.com/v1) named after the cluster, which scrapes every EMQX pod's
	// /api/v5/prometheus/stats with a viewer API key the operator provisions (EMQX 6.3 and later
	// ask for one by default). Without the Prometheus Operator's CRDs the MonitoringReady
	// condition says so and nothing else about the cluster changes.
	// +optional
	PodMonitor *PodMonitor `json:"podMonitor,omitempty"`
}

// PodMonitor is the operator-owned PodMonitor's settings.
type PodMonitor struct {
	// Interval between two scrapes of a pod.
	// +kubebuilder:default="15s"
	// +kubebuilder:validation:Pattern=`^(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?$`
	// +kubebuilder:validation:MinLength=2
	// +optional
	Interval string `json:"interval,omitempty"`
	// Mode of EMQX's stats endpoint: node (default; each pod reports itself, series carry the
	// pod's labels), all_nodes_aggregated or all_nodes_unaggregated (every pod reports the whole
	// cluster: sum or pick one pod in queries, or series are counted once per pod).
	// +kubebuilder:validation:Enum=node;all_nodes_aggregated;all_nodes_unaggregated
	// +kubebuilder:default=node
	// +optional
	Mode string `json:"mode,omitempty"`
	// Labels of the PodMonitor, for the podMonitorSelector of your Prometheus (kube-prometheus-stack:
	// release: <its release name>).
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}
