package v2beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EMQXBackupSchedule takes backups of a cluster on a schedule: each run creates an EMQXBackup
// (named <schedule>-<unix time of the run>), which then runs like any other. Retention deletes
// the oldest backups, and their archives, beyond what it keeps.
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=emqxbackupschedules,singular=emqxbackupschedule,shortName=emqxbs,categories=emqx-all
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=".spec.template.clusterName"
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=".spec.schedule"
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=".spec.suspend"
// +kubebuilder:printcolumn:name="Last backup",type=string,JSONPath=".status.lastBackupName"
// +kubebuilder:printcolumn:name="Last success",type=date,JSONPath=".status.lastSuccessfulTime"
// +operator-sdk:csv:customresourcedefinitions:displayName="EMQX backup schedule",resources={{EMQXBackup,v2beta1}}
type EMQXBackupSchedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EMQXBackupScheduleSpec   `json:"spec"`
	Status EMQXBackupScheduleStatus `json:"status,omitempty"`
}

// EMQXBackupScheduleList is a list of backup schedules.
// +kubebuilder:object:root=true
type EMQXBackupScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EMQXBackupSchedule `json:"items"`
}

// EMQXBackupScheduleSpec is when to back up, what, and how many backups to keep.
type EMQXBackupScheduleSpec struct {
	// Schedule in cron format ("0 3 * * *", minute first, in UTC) or a descriptor: @hourly,
	// @daily, @every 6h.
	// +kubebuilder:validation:MinLength=1
	// +operator-sdk:csv:customresourcedefinitions:type=spec,displayName="Schedule"
	Schedule string `json:"schedule"`
	// Suspend stops new runs (the annotation apps.emqx.io/run-now still starts one). Running
	// backups finish.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// Template is the spec of each backup (archivePolicy is Delete when a retention is set).
	Template EMQXBackupTemplate `json:"template"`
	// Retention deletes old backups of this schedule, and their stored archives.
	// +optional
	Retention *BackupRetention `json:"retention,omitempty"`
}

// EMQXBackupTemplate is what each scheduled backup backs up and where it is stored.
// +kubebuilder:validation:XValidation:rule="has(self.pvc) != has(self.s3)",message="set exactly one of pvc and s3"
type EMQXBackupTemplate struct {
	// ClusterName is the EMQX cluster, in the schedule's namespace.
	// +kubebuilder:validation:MinLength=1
	ClusterName   string `json:"clusterName"`
	BackupStorage `json:",inline"`
}

// BackupRetention is how many of a schedule's backups are kept. A backup is deleted (with its
// archive) when it is not among the newest KeepLast succeeded ones or older than MaxAge; the
// newest succeeded backup is always kept, so failing runs never leave a cluster without one.
// Running and pending backups are never deleted.
// +kubebuilder:validation:XValidation:rule="has(self.keepLast) || has(self.maxAge)",message="set keepLast, maxAge or both"
type BackupRetention struct {
	// KeepLast is how many succeeded backups are kept.
	// +kubebuilder:validation:Minimum=1
	// +optional
	KeepLast *int32 `json:"keepLast,omitempty"`
	// MaxAge deletes succeeded backups older than this (e.g. 720h).
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
	// KeepFailed is how many failed backups are kept for their error (default 1).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=1
	// +optional
	KeepFailed *int32 `json:"keepFailed,omitempty"`
}

// RunNowAnnotation on a schedule starts one backup at once; each new value starts one more
// (e.g. `kubectl annotate emqxbs nightly apps.emqx.io/run-now="$(date +%s)" --overwrite`).
const RunNowAnnotation = "apps.emqx.io/run-now"

// LabelBackupSchedule marks the backups a schedule made.
const LabelBackupSchedule = "apps.emqx.io/backup-schedule"

// ScheduleValid is the schedule's condition: false when spec.schedule does not parse.
const ScheduleValid = "ScheduleValid"

// EMQXBackupScheduleStatus is what the schedule did last.
type EMQXBackupScheduleStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastScheduleTime is the last run the schedule handled (started or skipped).
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime is the next run (unset while suspended or invalid).
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// LastBackupName is the newest backup the schedule created.
	LastBackupName string `json:"lastBackupName,omitempty"`
	// LastSuccessfulTime is when the newest succeeded backup finished.
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`
	// LastRunNow is the last value of the run-now annotation that started a backup.
	LastRunNow string `json:"lastRunNow,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,xDescriptors={"urn:alm:descriptor:io.kubernetes.conditions"}
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

func init() {
	SchemeBuilder.Register(&EMQXBackupSchedule{}, &EMQXBackupScheduleList{})
}
