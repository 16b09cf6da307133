package v2beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EMQXBackup is one backup of an EMQX cluster's data (configuration and tables, EMQX's
// `data export`), taken once by a Job that runs the operator's own image and stored where the
// spec says. A backup runs at most once: a finished backup (Succeeded or Failed) is never retried;
// create a new one.
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=emqxbackups,singular=emqxbackup,shortName=emqxbackup,categories=emqx-all
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
// +kubebuilder:validation:XValidation:rule="has(self.pvc) != has(self.s3)",message="set exactly one of pvc and s3"
type EMQXBackupSpec struct {
	// ClusterName is the EMQX cluster, in the backup's namespace.
	// +kubebuilder:validation:MinLength=1
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Cluster"
	ClusterName string `json:"clusterName"`

	BackupStorage `json:",inline"`

	// ArchivePolicy says what deleting this EMQXBackup does to its stored archive: Retain (the
	// default) keeps it; Delete removes the archive first (a short Job), then the EMQXBackup.
	// Backups made by an EMQXBackupSchedule with a retention are Delete, so retention frees the
	// storage. Deleting a cluster never deletes its backups.
	// +kubebuilder:validation:Enum=Retain;Delete
	// +kubebuilder:default=Retain
	// +optional
	ArchivePolicy string `json:"archivePolicy,omitempty"`
}

// Archive policies.
const (
	ArchiveRetain = "Retain"
	ArchiveDelete = "Delete"
)

// BackupStorage is where archives are kept: a PersistentVolumeClaim or an S3-compatible bucket
// (exactly one).
type BackupStorage struct {
	// PVC stores the archive (and its .sha256) on a PersistentVolumeClaim of the namespace. The
	// claim is not owned by the backup: deleting a cluster or a backup never deletes the claim.
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="PersistentVolumeClaim"
	// +optional
	PVC *BackupPVC `json:"pvc,omitempty"`
	// S3 stores the archive as an object in an S3-compatible bucket, with its SHA-256 as object
	// metadata.
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="S3 bucket"
	// +optional
	S3 *BackupS3 `json:"s3,omitempty"`
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

// BackupS3 is a bucket of an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...).
type BackupS3 struct {
	// Endpoint is the store's URL, scheme and host only: https://s3.eu-west-1.amazonaws.com,
	// http://minio.storage.svc:9000.
	// +kubebuilder:validation:Pattern=`^https?://[^/?#]+/?$`
	Endpoint string `json:"endpoint"`
	// Bucket must exist; the backup never creates one.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`
	// Prefix is put before each archive's name (e.g. "emqx/prod/").
	// +kubebuilder:validation:Pattern=`^[^/][^\0]*$`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Region of the bucket (default us-east-1, which most S3-compatible stores accept).
	// +optional
	Region string `json:"region,omitempty"`
	// CredentialsSecretName is a Secret of the namespace with the keys AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY. The backup Job gets them as environment variables; the operator
	// itself never reads them.
	// +kubebuilder:validation:MinLength=1
	CredentialsSecretName string `json:"credentialsSecretName"`
}

// Keys of an S3 credentials Secret.
const (
	S3AccessKeyIDKey     = "AWS_ACCESS_KEY_ID"
	S3SecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"
)

// Backup phases.
const (
	BackupPending   = "Pending"
	BackupRunning   = "Running"
	BackupSucceeded = "Succeeded"
	BackupFailed    = "Failed"
)

// RunStatus is how the run-once Job of a backup or restore went.
type RunStatus struct {
	// Phase: Pending (waiting, Message says for what), Running, Succeeded or Failed.
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Phase",xDescriptors={"urn:alm:descriptor:text"}
	Phase string `json:"phase,omitempty"`
	// Message says why it waits or failed, or what it did.
	Message string `json:"message,omitempty"`
	// JobName is the Job that runs it.
	JobName        string       `json:"jobName,omitempty"`
	StartTime      *metav1.Time `json:"startTime,omitempty"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// Finished reports whether the run has ended, for good.
func (s *RunStatus) Finished() bool { return s.Phase == BackupSucceeded || s.Phase == BackupFailed }

// EMQXBackupStatus is what the backup did.
type EMQXBackupStatus struct {
	RunStatus `json:",inline"`
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
func (b *EMQXBackup) Finished() bool { return b.Status.Finished() }

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

// DeleteJobName is the Job that deletes this backup's archive (ArchivePolicy Delete).
func (b *EMQXBackup) DeleteJobName() string { return b.Name + "-delete" }

// ArchiveFinalizer holds a backup with ArchivePolicy Delete until its archive is deleted.
const ArchiveFinalizer = "apps.emqx.io/delete-archive"

func init() {
	SchemeBuilder.Register(&EMQXBackup{}, &EMQXBackupList{})
}
