package v2beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EMQXBackup is one backup of an EMQX cluster's data (configuration and tables, EMQX's
// `data export`), taken once by a Job that runs the operator's own image and stored where the
// spec says. A backup runs at most once: a finished backup (Succeeded or Failed) is never retried;
// create a new one.
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=emqxbackups,singular=emqxbackup,shortName=emqxbackup,categories=emqx
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=".spec.clusterName"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=".status.phase"
// +kubebuilder:printcolumn:name="File",type=string,JSONPath=".status.filename"
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=".status.size"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
// +operator-sdk:csv:customresourcedefinitions:displayName="EMQX backup",resources={{Job,v1},{ServiceAccount,v1},{Role,v1},{RoleBinding,v1}}
type EMQXBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a backup's spec cannot change; create a new EMQXBackup"
	Spec   EMQXBackupSpec   `json:"spec"`
	Status EMQXBackupStatus `json:"status,omitempty"`
}

// EMQXBackupList is a list of backups.
// +kubebuilder:object:root=true
type EMQXBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EMQXBackup `json:"items"`
}

// EMQXBackupSpec says which cluster to back up and where the archive goes.
type EMQXBackupSpec struct {
	// ClusterName is the EMQX cluster, in the backup's namespace.
	// +kubebuilder:validation:MinLength=1
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Cluster"
	ClusterName string `json:"clusterName"`
	// PVC stores the archive (and its .sha256) on a PersistentVolumeClaim of the namespace. The
	// claim is not owned by the backup: deleting a cluster or a backup never deletes archives.
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="PersistentVolumeClaim"
	PVC BackupPVC `json:"pvc"`
}

// BackupPVC is a directory on a PersistentVolumeClaim.
type BackupPVC struct {
	// ClaimName of the PersistentVolumeClaim.
	// +kubebuilder:validation:MinLength=1
	ClaimName string `json:"claimName"`
	// SubPath inside the volume (default: its root).
	// +kubebuilder:validation:Pattern=`^[^/.][^\0]*$`
	// +optional
	SubPath string `json:"subPath,omitempty"`
}

// Backup phases.
const (
	BackupPending   = "Pending"
	BackupRunning   = "Running"
	BackupSucceeded = "Succeeded"
	BackupFailed    = "Failed"
)

// EMQXBackupStatus is what the backup did.
type EMQXBackupStatus struct {
	// Phase: Pending (waiting for the cluster or another backup), Running, Succeeded or Failed.
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Phase",xDescriptors={"urn:alm:descriptor:text"}
	Phase string `json:"phase,omitempty"`
	// Message says why the backup waits or failed.
	Message string `json:"message,omitempty"`
	// JobName is the Job that takes the backup.
	JobName        string       `json:"jobName,omitempty"`
	StartTime      *metav1.Time `json:"startTime,omitempty"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Node exported the archive; Filename is its name.
	Node     string `json:"node,omitempty"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// SHA256 of the archive, verified after storing it.
	SHA256 string `json:"sha256,omitempty"`
	// Location is where the archive is stored.
	Location string `json:"location,omitempty"`
}

// Finished reports whether the backup has ended, for good.
func (b *EMQXBackup) Finished() bool {
	return b.Status.Phase == BackupSucceeded || b.Status.Phase == BackupFailed
}

// JobName is the Job that takes this backup.
func (b *EMQXBackup) JobName() string { return b.Name + "-backup" }

// BackupServiceAccountName is the ServiceAccount a cluster's backup Jobs run as: it may list the
// cluster's pods and read its operator API key, nothing else.
func (e *EMQX) BackupServiceAccountName() string { return e.Name + "-backup" }

// Labels of a backup's Job and pods. They carry the operator's managed-by label (so its cache
// sees them) but not the cluster's instance label: backup pods are not nodes of the cluster.
const (
	LabelBackup   = "apps.emqx.io/backup"
	LabelBackupOf = "apps.emqx.io/backup-of"
)

// BackupLabels are the labels of a backup's Job and pods.
func (b *EMQXBackup) BackupLabels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelBackup: b.Name, LabelBackupOf: b.Spec.ClusterName}
}

func init() {
	SchemeBuilder.Register(&EMQXBackup{}, &EMQXBackupList{})
}
