package v2beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EMQXRestore imports a backup archive into a running EMQX cluster, once: a Job of the operator's
// image reads the archive from its store, checks its checksum, uploads it to a ready core node and
// imports it there (EMQX merges: records with the same key are replaced, others stay). A finished
// restore (Succeeded or Failed) never runs again; create a new one.
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=emqxrestores,singular=emqxrestore,shortName=emqxrestore,categories=emqx-all
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=".spec.clusterName"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=".status.phase"
// +kubebuilder:printcolumn:name="File",type=string,JSONPath=".status.filename"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
// +operator-sdk:csv:customresourcedefinitions:displayName="EMQX restore",resources={{Job,v1}}
type EMQXRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a restore's spec cannot change; create a new EMQXRestore"
	Spec   EMQXRestoreSpec   `json:"spec"`
	Status EMQXRestoreStatus `json:"status,omitempty"`
}

// EMQXRestoreList is a list of restores.
// +kubebuilder:object:root=true
type EMQXRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EMQXRestore `json:"items"`
}

// EMQXRestoreSpec names the cluster and the archive: a succeeded EMQXBackup, or a file in a store.
// +kubebuilder:validation:XValidation:rule="has(self.backupName) != has(self.filename)",message="set either backupName or filename (with pvc or s3)"
// +kubebuilder:validation:XValidation:rule="!has(self.filename) || has(self.pvc) != has(self.s3)",message="a filename needs exactly one of pvc and s3"
// +kubebuilder:validation:XValidation:rule="!has(self.backupName) || (!has(self.pvc) && !has(self.s3))",message="backupName brings its own storage; leave pvc and s3 out"
type EMQXRestoreSpec struct {
	// ClusterName is the EMQX cluster to import into, in the restore's namespace.
	// +kubebuilder:validation:MinLength=1
	ClusterName string `json:"clusterName"`
	// BackupName is a succeeded EMQXBackup of the namespace; its archive, storage and checksum are used.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// Filename of an archive in the storage below (an archive not made by this operator).
	// +kubebuilder:validation:Pattern=`^[^/.][^/]*\.tar\.gz$`
	// +optional
	Filename      string `json:"filename,omitempty"`
	BackupStorage `json:",inline"`
	// SHA256 the archive must have (optional with filename; taken from the backup with backupName).
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	// +optional
	SHA256 string `json:"sha256,omitempty"`
}

// EMQXRestoreStatus is what the restore did.
type EMQXRestoreStatus struct {
	RunStatus `json:",inline"`
	// Node imported the archive; Filename and SHA256 are the archive's.
	Node     string `json:"node,omitempty"`
	Filename string `json:"filename,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
}

// Finished reports whether the restore has ended, for good.
func (r *EMQXRestore) Finished() bool { return r.Status.Finished() }

// JobName is the Job that runs this restore.
func (r *EMQXRestore) JobName() string { return r.Name + "-restore" }

// LabelRestore marks a restore's Job and pod.
const LabelRestore = "apps.emqx.io/restore"

// RestoreLabels are the labels of a restore's Job and pods (not the cluster's instance label:
// they are not EMQX nodes).
func (r *EMQXRestore) RestoreLabels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelRestore: r.Name, LabelBackupOf: r.Spec.ClusterName}
}

func init() {
	SchemeBuilder.Register(&EMQXRestore{}, &EMQXRestoreList{})
}
