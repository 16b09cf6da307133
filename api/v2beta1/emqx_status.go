package v2beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Condition types, in the order the status lists them (Ready last).
const (
	Initialized               = "Initialized"
	CoreNodesProgressing      = "CoreNodesProgressing"
	CoreNodesReady            = "CoreNodesReady"
	ReplicantNodesProgressing = "ReplicantNodesProgressing"
	ReplicantNodesReady       = "ReplicantNodesReady"
	Available                 = "Available"
	// ConfigValid is false when the spec holds something only the operator can reject
	// (unparsable HOCON, a missing Secret); nothing is applied until it is fixed.
	ConfigValid = "ConfigValid"
	// PodsAdmitted is false when the API server refuses the pods of a workload
	// (Pod Security, a ResourceQuota, an invalid field).
	PodsAdmitted = "PodsAdmitted"
	// LicenseValid is false when EMQX rejected the licence key given in spec.license (the running
	// licence stays) or the licence has expired; its reason is ExpiringSoon within the warning days.
	LicenseValid = "LicenseValid"
	// TLSCertificateReady is true when every node serves the certificate from spec.tls; false while
	// a rotation is on its way to the nodes, or when the given certificate does not validate (the
	// one in use stays).
	TLSCertificateReady = "TLSCertificateReady"
	// DataRestored is true once the backup in spec.restoreFrom has been imported; while it is
	// false the cluster is not Ready.
	DataRestored = "DataRestored"
	// DSReplicationReady is present only on clusters with durable storage: true when every DB's
	// shards have their replicas on the core sites and no transition runs; false while replicas
	// move, a replica is lost, or a scale-in waits for its data to move.
	DSReplicationReady = "DSReplicationReady"
	// PluginsReady is present only on clusters with EMQXPlugins: true when every running node runs
	// every plugin as its EMQXPlugin asks (a node added, replaced or restarted gets them first).
	PluginsReady = "PluginsReady"
	// MonitoringReady is present only while spec.monitoring.podMonitor is set: true when the
	// PodMonitor exists and EMQX accepts its scrape credentials. It never holds Ready: a cluster
	// serves clients whether or not Prometheus can read it.
	MonitoringReady = "MonitoringReady"
	// Paused is true while the pause annotation holds every change back.
	Paused = "Paused"
	Ready  = "Ready"
)

// PauseAnnotation, set to "true" on an EMQX resource, stops every change to the cluster (applies,
// scaling, rollouts) until it is removed; status keeps being reported.
const PauseAnnotation = "apps.emqx.io/paused"

// AnnotationAdoptVendorWorkloads, set to "true" by the user, lets the operator take over a cluster
// whose nodes run in the workloads the vendor's emqx-operator made (docs/migration.md); without it
// such a cluster is held and nothing of it is touched.
const AnnotationAdoptVendorWorkloads = "apps.emqx.io/adopt-vendor-workloads"

// AnnotationCoreStatefulSet is written by the operator when it adopts the vendor's core
// StatefulSet: its name, which the operator keeps (the StatefulSet's name is in its PVCs' names).
const AnnotationCoreStatefulSet = "apps.emqx.io/core-statefulset"

// ConditionTypes lists every condition type in display order.
var ConditionTypes = []string{Initialized, ConfigValid, PodsAdmitted, CoreNodesProgressing, CoreNodesReady,
	ReplicantNodesProgressing, ReplicantNodesReady, Available, LicenseValid, TLSCertificateReady, DataRestored, DSReplicationReady, PluginsReady, MonitoringReady, Paused, Ready}

// EMQXStatus is the observed state of an EMQX cluster.
type EMQXStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase summarises the conditions in one word for `kubectl get`.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Phase",xDescriptors={"urn:alm:descriptor:text"}
	Phase string `json:"phase,omitempty"`

	// ReadyNodes is "running nodes/wanted nodes" as reported by EMQX.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Ready nodes",xDescriptors={"urn:alm:descriptor:text"}
	ReadyNodes string `json:"readyNodes,omitempty"`

	// EMQXVersion is the EMQX release the nodes report (the lowest, during an upgrade).
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="EMQX version",xDescriptors={"urn:alm:descriptor:text"}
	EMQXVersion string `json:"emqxVersion,omitempty"`

	// +listType=map
	// +listMapKey=type
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,xDescriptors={"urn:alm:descriptor:io.kubernetes.conditions"}
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CoreNodes are the core nodes as EMQX reports them.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Core nodes"
	CoreNodes []EMQXNode `json:"coreNodes,omitempty"`
	// CoreNodesStatus counts the core workload's pods.
	// +optional
	CoreNodesStatus EMQXNodesStatus `json:"coreNodesStatus,omitempty"`

	// ReplicantNodes are the replicant nodes as EMQX reports them.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Replicant nodes"
	ReplicantNodes []EMQXNode `json:"replicantNodes,omitempty"`
	// ReplicantNodesStatus counts the replicant workload's pods.
	// +optional
	ReplicantNodesStatus EMQXNodesStatus `json:"replicantNodesStatus,omitempty"`
	// AppliedConfigRevision is the revision of spec.config.data the running cluster has accepted
	// (a hash of the text); the ConfigMap nodes read at start-up holds that revision.
	// +optional
	AppliedConfigRevision string `json:"appliedConfigRevision,omitempty"`
	// License is the licence the cluster runs, as EMQX reports it.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Licence"
	License *LicenseStatus `json:"license,omitempty"`
	// TLS is the listeners' certificate in use and how many nodes serve it.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="TLS certificate"
	TLS *TLSStatus `json:"tls,omitempty"`

	// DSReplication summarises durable-storage replication per DB (the vendor's 2.3 shape); absent
	// on clusters without durable storage.
	// +optional
	// +operator-sdk:csv:customresourcedefinitions:type=status,displayName="Durable storage replication"
	DSReplication *DSReplicationStatus `json:"dsReplication,omitempty"`

	// Restore is the import of spec.restoreFrom: the EMQXRestore that runs it and its phase. Once
	// set, the operator never creates that restore again.
	// +optional
	Restore *RestoreStatus `json:"restore,omitempty"`
	// ReplicantNodesSelector is the label selector of the replicant pods (for the scale subresource).
	// +optional
	ReplicantNodesSelector string `json:"replicantNodesSelector,omitempty"`
}

// DSReplicationStatus is the replication of the cluster's durable-storage DBs.
type DSReplicationStatus struct {
	// +optional
	DBs []DSDBReplicationStatus `json:"dbs,omitempty"`
	// CoreSites are the sites the operator last saw each core own, with the data volume (PVC UID)
	// it ran on: a core back on another volume has lost its site's data, so that site is retired.
	// +optional
	CoreSites []DSCoreSite `json:"coreSites,omitempty"`
}

// DSCoreSite is a core node's durable-storage site and the PVC its data directory was on.
type DSCoreSite struct {
	Node   string `json:"node"`
	Site   string `json:"site"`
	Volume string `json:"volume,omitempty"`
	// PersistentVolume is the PV the PVC was bound to: a PVC made again on the same PV (a
	// restore, a storage migration) keeps its data.
	PersistentVolume string `json:"persistentVolume,omitempty"`
}

// DSDBReplicationStatus is one DB: its shards and their replicas, as EMQX reports them.
type DSDBReplicationStatus struct {
	// Name of the DB (messages, sessions, …).
	Name string `json:"name"`
	// NumShards is the number of shards.
	NumShards int32 `json:"numShards"`
	// NumShardReplicas counts the current replicas over all shards.
	NumShardReplicas int32 `json:"numShardReplicas"`
	// LostShardReplicas counts the current replicas whose site is lost.
	LostShardReplicas int32 `json:"lostShardReplicas"`
	// NumTransitions counts the pending replica-set changes over all shards.
	NumTransitions int32 `json:"numTransitions"`
	// MinReplicas and MaxReplicas are the fewest and most replicas of one shard.
	MinReplicas int32 `json:"minReplicas"`
	MaxReplicas int32 `json:"maxReplicas"`
}

// Stable reports a DB whose shards all have the same number of replicas and no pending change.
func (d DSDBReplicationStatus) Stable() bool {
	return d.NumTransitions == 0 && d.MinReplicas == d.MaxReplicas && d.LostShardReplicas == 0
}

// LicenseStatus is GET /api/v5/license.
type LicenseStatus struct {
	Type        string `json:"type,omitempty"`
	Customer    string `json:"customer,omitempty"`
	MaxSessions int64  `json:"maxSessions,omitempty"`
	ExpiryAt    string `json:"expiryAt,omitempty"`
	Expired     bool   `json:"expired,omitempty"`
	// Revision is a hash of the key the operator last applied from spec.license.
	Revision string `json:"revision,omitempty"`
}

// TLSStatus describes the certificate the operator rolled out to the nodes.
type TLSStatus struct {
	// Fingerprint is the SHA-256 of the certificate in use (the version nodes should serve).
	Fingerprint string `json:"fingerprint,omitempty"`
	// SerialNumber of the certificate in use, in hex.
	SerialNumber string `json:"serialNumber,omitempty"`
	// NotAfter is when the certificate in use expires.
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// DNSNames the certificate covers.
	DNSNames []string `json:"dnsNames,omitempty"`
	// NodesServing: nodes whose TLS listeners were seen serving this certificate, of the nodes running.
	NodesServing string `json:"nodesServing,omitempty"`
}

// EMQXNode is one node as `GET /api/v5/nodes` reports it.
type EMQXNode struct {
	Node string `json:"node"`
	// NodeStatus is running or stopped.
	NodeStatus string `json:"node_status"`
	// +optional
	OTPRelease string `json:"otp_release,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Role string `json:"role,omitempty"`
	// +optional
	Edition string `json:"edition,omitempty"`
	// +optional
	Connections int64 `json:"connections,omitempty"`
	// +optional
	LiveConnections int64 `json:"live_connections,omitempty"`
	// +optional
	PodUID types.UID `json:"podUID,omitempty"`
	// +optional
	ControllerUID types.UID `json:"controllerUID,omitempty"`
}

// EMQXNodesStatus counts a workload's pods.
type EMQXNodesStatus struct {
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`
	// +optional
	CurrentReplicas int32 `json:"currentReplicas,omitempty"`
	// +optional
	UpdateRevision string `json:"updateRevision,omitempty"`
	// +optional
	UpdateReplicas int32 `json:"updateReplicas,omitempty"`
}

func init() {
	SchemeBuilder.Register(&EMQX{}, &EMQXList{})
}

// RestoreStatus follows the restore of spec.restoreFrom.
type RestoreStatus struct {
	// Name of the EMQXRestore.
	Name string `json:"name"`
	// Phase of that restore.
	Phase string `json:"phase,omitempty"`
}
