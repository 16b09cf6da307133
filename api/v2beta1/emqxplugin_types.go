package v2beta1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EMQXPlugin installs one EMQX plugin on every node of one EMQX cluster, keeps it there (nodes that
// are added, replaced or restarted get it before the cluster is Ready), configures, orders, starts
// or stops it, upgrades it when nameVsn changes and uninstalls it when the resource is deleted.
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=emqxplugins,singular=emqxplugin,shortName=emqxplugin,categories=emqx-all
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=".spec.clusterName"
// +kubebuilder:printcolumn:name="Plugin",type=string,JSONPath=".spec.nameVsn"
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=".spec.enabled"
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=".status.readyNodes"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=".status.conditions[?(@.type==\"Ready\")].reason"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
// +operator-sdk:csv:customresourcedefinitions:displayName="EMQX plugin"
type EMQXPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EMQXPluginSpec   `json:"spec"`
	Status EMQXPluginStatus `json:"status,omitempty"`
}

// EMQXPluginList is a list of plugins.
// +kubebuilder:object:root=true
type EMQXPluginList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EMQXPlugin `json:"items"`
}

// EMQXPluginSpec is the plugin a cluster should run.
// +kubebuilder:validation:XValidation:rule="self.clusterName == oldSelf.clusterName",message="clusterName cannot change; create an EMQXPlugin for the other cluster"
// +kubebuilder:validation:XValidation:rule="self.nameVsn.split('-')[0] == oldSelf.nameVsn.split('-')[0]",message="the plugin's name (nameVsn before the first '-') cannot change, only its version; create an EMQXPlugin for the other plugin"
type EMQXPluginSpec struct {
	// ClusterName is the EMQX cluster (EMQX 5.x or 6.x) in the plugin's namespace.
	// +kubebuilder:validation:MinLength=1
	ClusterName string `json:"clusterName"`
	// NameVsn is the plugin's name and version as the package carries them (its file name without
	// .tar.gz and release.json's name and rel_vsn), for example my_plugin-1.2.0. Changing it
	// upgrades or downgrades the plugin. EMQX derives the name from the file name by trimming
	// trailing '.', 't', 'a', 'r', 'g' and 'z' characters, so a version ending with one of them
	// could not be installed under its own name.
	// +kubebuilder:validation:MaxLength=249
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_]*-[A-Za-z0-9_][A-Za-z0-9_.-]*$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('[.targz]$')",message="EMQX trims trailing '.', 't', 'a', 'r', 'g' and 'z' characters from a package's file name, so a nameVsn ending with one of them would be installed under another name"
	NameVsn string `json:"nameVsn"`
	// Package is where the operator reads the plugin's .tar.gz.
	Package PluginPackage `json:"package"`
	// Enabled plugins run on every node; disabled ones stay installed and stopped.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`
	// Config is the plugin's configuration (a JSON object checked by EMQX against the plugin's
	// schema). Unset: the plugin keeps the configuration it has (its package's default at first).
	// A configuration EMQX refuses is reported and the running one stays.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Config *apiextensionsv1.JSON `json:"config,omitempty"`
	// Position among the cluster's plugins, which is the order their hooks run in: front, rear,
	// before:<plugin name> or after:<plugin name> (the other plugin's name without its version).
	// Unset: where EMQX put it (installed plugins go to the rear).
	// +kubebuilder:validation:Pattern=`^(front|rear|(before|after):[A-Za-z][A-Za-z0-9_]*)$`
	// +optional
	Position string `json:"position,omitempty"`
}

// PluginPackage is one source of the plugin's package: a key of a ConfigMap (binaryData) or of a
// Secret for small packages (a ConfigMap or Secret holds at most 1 MiB), a file on a
// PersistentVolumeClaim, or an HTTP(S) URL, whose SHA-256 is then required.
// +kubebuilder:validation:XValidation:rule="(has(self.configMapKeyRef) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) + (has(self.url) ? 1 : 0) == 1",message="set exactly one of configMapKeyRef, secretKeyRef, persistentVolumeClaim and url"
// +kubebuilder:validation:XValidation:rule="!has(self.url) || has(self.sha256)",message="a package from a URL needs its sha256"
type PluginPackage struct {
	// ConfigMapKeyRef is a key of a ConfigMap of the plugin's namespace holding the package.
	// +optional
	ConfigMapKeyRef *ObjectKeyRef `json:"configMapKeyRef,omitempty"`
	// SecretKeyRef is a key of a Secret of the plugin's namespace holding the package.
	// +optional
	SecretKeyRef *ObjectKeyRef `json:"secretKeyRef,omitempty"`
	// PersistentVolumeClaim is a file on a claim of the plugin's namespace (packages too large for
	// a ConfigMap, or a volume a pipeline fills). The operator reads it through a short-lived
	// reader pod that mounts the claim read-only (see docs/plugins.md).
	// +optional
	PersistentVolumeClaim *ClaimFileRef `json:"persistentVolumeClaim,omitempty"`
	// URL the operator downloads the package from (http or https).
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	URL string `json:"url,omitempty"`
	// SHA256 the package must have (hex). Required with url; checked for the other sources when set.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	// +optional
	SHA256 string `json:"sha256,omitempty"`
}

// ObjectKeyRef names one key of a ConfigMap or Secret.
type ObjectKeyRef struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`
}

// ClaimFileRef names one file on a PersistentVolumeClaim.
type ClaimFileRef struct {
	// ClaimName is the PersistentVolumeClaim, in the plugin's namespace.
	// +kubebuilder:validation:MinLength=1
	ClaimName string `json:"claimName"`
	// Path of the package inside the volume, relative to its root (no ".." segments).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[^/]`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '..')",message="the path stays inside the volume: no '..' segments"
	Path string `json:"path"`
}

// EMQXPlugin condition types.
const (
	// PluginInstalled: the wanted version is on every running node of the cluster.
	PluginInstalled = "Installed"
	// PluginConfigApplied: the cluster runs spec.config (False/ConfigRejected: EMQX refused it).
	PluginConfigApplied = "ConfigApplied"
)

// EMQXPluginStatus is the plugin as the operator last saw it on the cluster.
type EMQXPluginStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Installed, ConfigApplied and Ready.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ReadyNodes is "<nodes running the plugin as wanted>/<running nodes>".
	// +optional
	ReadyNodes string `json:"readyNodes,omitempty"`
	// PackageSHA256 is the SHA-256 of the package the operator installed.
	// +optional
	PackageSHA256 string `json:"packageSHA256,omitempty"`
	// Nodes is the plugin on each running node of the cluster.
	// +optional
	Nodes []PluginNode `json:"nodes,omitempty"`
	// LastUpgrade is the last version change: when the old version stopped and the new one started.
	// +optional
	LastUpgrade *PluginUpgrade `json:"lastUpgrade,omitempty"`
}

// PluginNode is the plugin on one EMQX node.
type PluginNode struct {
	// Node is the EMQX node name.
	Node string `json:"node"`
	// PodUID is the pod the node ran in when it was seen (a recreated pod starts without plugins).
	// +optional
	PodUID types.UID `json:"podUID,omitempty"`
	// Restarts is the restart count of the pod's emqx container when it was seen: a restarted
	// container starts without plugins too.
	// +optional
	Restarts int32 `json:"restarts,omitempty"`
	// NameVsn is the version of the plugin installed on the node ("" when none is).
	// +optional
	NameVsn string `json:"nameVsn,omitempty"`
	// Running: the plugin runs on the node.
	Running bool `json:"running"`
}

// PluginUpgrade is one version change and the gap it caused (no version running in between).
type PluginUpgrade struct {
	From string `json:"from"`
	To   string `json:"to"`
	// StoppedAt: the old version stopped; StartedAt: the new one started (unset while it has not).
	StoppedAt metav1.Time `json:"stoppedAt"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
}

// PluginFinalizer makes the operator uninstall the plugin from the cluster before the resource goes.
const PluginFinalizer = "apps.emqx.io/plugin-uninstall"

func init() {
	SchemeBuilder.Register(&EMQXPlugin{}, &EMQXPluginList{})
}
