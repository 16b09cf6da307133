package v3beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// EMQXStatus is the observed state of an EMQX cluster in the vendor's 3.0 shape, plus this
// operator's own fields.
type EMQXStatus struct {
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CoreReplicas is how many core pods exist.
	CoreReplicas int32 `json:"coreReplicas"`
	// CoreSelector selects the core pods.
	// +optional
	CoreSelector string `json:"coreSelector,omitempty"`
	// ReplicantReplicas is how many replicant pods exist (the scale subresource's replicas).
	ReplicantReplicas int32 `json:"replicantReplicas"`
	// ReplicantSelector selects the replicant pods (the scale subresource's selector).
	// +optional
	ReplicantSelector string `json:"replicantSelector,omitempty"`

	// ClusterNodes are the cluster's nodes as EMQX reports them.
	// +optional
	ClusterNodes []EMQXNode `json:"clusterNodes,omitempty"`
	// CoreNodes and ReplicantNodes are the release candidates' shape of the same list, still read.
	// +optional
	CoreNodes []EMQXNode `json:"coreNodes,omitempty"`
	// +optional
	ReplicantNodes []EMQXNode `json:"replicantNodes,omitempty"`

	// +optional
	CoreNodesStatus CoreNodesStatus `json:"coreNodesStatus,omitempty"`
	// +optional
	ReplicantNodesStatus ReplicantNodesStatus `json:"replicantNodesStatus,omitempty"`
	// NodeEvacuations lists the evacuations EMQX runs.
	// +optional
	NodeEvacuations []NodeEvacuationStatus `json:"nodeEvacuations,omitempty"`
	// +optional
	DSReplication *v2beta1.DSReplicationStatus `json:"dsReplication,omitempty"`

	// The rest is this operator's, as in v2beta1.

	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	ReadyNodes string `json:"readyNodes,omitempty"`
	// +optional
	EMQXVersion string `json:"emqxVersion,omitempty"`
	// +optional
	AppliedConfigRevision string `json:"appliedConfigRevision,omitempty"`
	// +optional
	License *v2beta1.LicenseStatus `json:"license,omitempty"`
	// +optional
	TLS *v2beta1.TLSStatus `json:"tls,omitempty"`
	// +optional
	Restore *v2beta1.RestoreStatus `json:"restore,omitempty"`
	// CoreRevisions are the core StatefulSet's revisions, which the vendor's shape has no room for.
	// +optional
	CoreRevisions *Revisions `json:"coreRevisions,omitempty"`
}

// Revisions are a StatefulSet's current and update revisions.
type Revisions struct {
	// +optional
	Current string `json:"current,omitempty"`
	// +optional
	Update string `json:"update,omitempty"`
}

// EMQXNode is one node as EMQX reports it.
type EMQXNode struct {
	Name string `json:"name"`
	// +optional
	PodName string `json:"podName,omitempty"`
	// +optional
	Status string `json:"status,omitempty"`
	// +optional
	OTPRelease string `json:"otpRelease,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// Role is core or replicant, omitted when unknown.
	// +optional
	Role string `json:"role,omitempty"`
	// Sessions is the number of MQTT sessions, connected or not.
	Sessions int64 `json:"sessions"`
	// Connections is the number of connected MQTT clients.
	Connections int64 `json:"connections"`
	// +optional
	Edition string `json:"edition,omitempty"`
	// +optional
	PodUID types.UID `json:"podUID,omitempty"`
	// +optional
	ControllerUID types.UID `json:"controllerUID,omitempty"`
}

// CoreNodesStatus counts the core StatefulSet's pods.
type CoreNodesStatus struct {
	ReadyReplicas   int32 `json:"readyReplicas"`
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// CurrentReplicas are the pods still on the previous template.
	CurrentReplicas int32 `json:"currentReplicas"`
}

// ReplicantNodesStatus counts the replicant pods.
type ReplicantNodesStatus struct {
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
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
}

// NodeEvacuationStatus is one evacuation.
type NodeEvacuationStatus struct {
	NodeName string `json:"nodeName"`
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
