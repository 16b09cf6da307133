package v2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// EMQXStatus is the observed state of an EMQX cluster: the v2beta1 status with the node entries
// and evacuations in the vendor's v2 shape.
type EMQXStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase summarises the conditions in one word for `kubectl get`.
	// +optional
	Phase string `json:"phase,omitempty"`
	// ReadyNodes is "running nodes/wanted nodes" as reported by EMQX.
	// +optional
	ReadyNodes string `json:"readyNodes,omitempty"`
	// EMQXVersion is the EMQX release the nodes report (the lowest, during an upgrade).
	// +optional
	EMQXVersion string `json:"emqxVersion,omitempty"`

	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CoreNodes are the core nodes as EMQX reports them.
	// +optional
	CoreNodes []EMQXNode `json:"coreNodes,omitempty"`
	// CoreNodesStatus counts the core workload's pods.
	// +optional
	CoreNodesStatus v2beta1.EMQXNodesStatus `json:"coreNodesStatus,omitempty"`
	// ReplicantNodes are the replicant nodes as EMQX reports them.
	// +optional
	ReplicantNodes []EMQXNode `json:"replicantNodes,omitempty"`
	// ReplicantNodesStatus counts the replicant workload's pods.
	// +optional
	ReplicantNodesStatus v2beta1.EMQXNodesStatus `json:"replicantNodesStatus,omitempty"`

	// NodeEvacuationsStatus lists the evacuations EMQX runs.
	// +optional
	NodeEvacuationsStatus []NodeEvacuationStatus `json:"nodeEvacuationsStatus,omitempty"`

	// AppliedConfigRevision is the revision of spec.config.data the running cluster has accepted.
	// +optional
	AppliedConfigRevision string `json:"appliedConfigRevision,omitempty"`
	// License is the licence the cluster runs, as EMQX reports it.
	// +optional
	License *v2beta1.LicenseStatus `json:"license,omitempty"`
	// TLS is the listeners' certificate in use and how many nodes serve it.
	// +optional
	TLS *v2beta1.TLSStatus `json:"tls,omitempty"`
	// DSReplication summarises durable-storage replication per DB.
	// +optional
	DSReplication *v2beta1.DSReplicationStatus `json:"dsReplication,omitempty"`
	// Restore is the import of spec.restoreFrom.
	// +optional
	Restore *v2beta1.RestoreStatus `json:"restore,omitempty"`
	// ReplicantNodesSelector is the label selector of the replicant pods (for the scale subresource).
	// +optional
	ReplicantNodesSelector string `json:"replicantNodesSelector,omitempty"`
}

// EMQXNode is one node in the vendor's v2 shape. Mind the renames from v2beta1: connections there
// counted sessions and is sessions here; live_connections there is connections here.
type EMQXNode struct {
	// Name is the EMQX node name (emqx@<pod>.<headless service>...).
	Name string `json:"name"`
	// PodName is the pod the node runs in.
	// +optional
	PodName string `json:"podName,omitempty"`
	// Status is running or stopped.
	// +optional
	Status string `json:"status,omitempty"`
	// +optional
	OTPRelease string `json:"otpRelease,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Role string `json:"role,omitempty"`
	// Sessions is the number of MQTT sessions, connected or not.
	// +optional
	Sessions int64 `json:"sessions,omitempty"`
	// Connections is the number of connected MQTT clients.
	// +optional
	Connections int64 `json:"connections,omitempty"`
	// Edition is this operator's addition (Opensource or Enterprise).
	// +optional
	Edition string `json:"edition,omitempty"`
	// +optional
	PodUID types.UID `json:"podUID,omitempty"`
	// +optional
	ControllerUID types.UID `json:"controllerUID,omitempty"`
}

// NodeEvacuationStatus is one evacuation in the vendor's v2 shape.
type NodeEvacuationStatus struct {
	// NodeName is the EMQX node being evacuated.
	NodeName string `json:"nodeName"`
	// State is EMQX's evacuation state (e.g. evicting_conns, evicting_sessions).
	// +optional
	State string `json:"state,omitempty"`
	// +optional
	SessionRecipients []string `json:"sessionRecipients,omitempty"`
	// +optional
	SessionEvictionRate int32 `json:"sessionEvictionRate,omitempty"`
	// +optional
	ConnectionEvictionRate int32 `json:"connectionEvictionRate,omitempty"`
	// +optional
	InitialSessions int64 `json:"initialSessions,omitempty"`
	// +optional
	InitialConnections int64 `json:"initialConnections,omitempty"`
}
