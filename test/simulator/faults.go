package simulator

import "time"

// Faults a test can switch on for one node (PUT /sim/nodes/{node}/faults on the control API).
type Faults struct {
	// Unresponsive: the node accepts connections but never answers (a hung node).
	Unresponsive bool `json:"unresponsive,omitempty"`
	// ServerError: every API call answers 500 INTERNAL_ERROR.
	ServerError bool `json:"serverError,omitempty"`
	// ExportError: POST /api/v5/data/export answers 500, as EMQX does when the export fails
	// ("Error processing export: ..."), while the node stays healthy.
	ExportError bool `json:"exportError,omitempty"`
	// Delay is added before every answer.
	Delay time.Duration `json:"delay,omitempty"`
	// NeverJoins: cluster discovery never joins this node to its peers (an invite still works).
	NeverJoins bool `json:"neverJoins,omitempty"`
	// Unhealthy: /status answers 503, so the pod turns unready.
	Unhealthy bool `json:"unhealthy,omitempty"`
	// Stopped: the core node's EMQX stops (as `emqx stop` in its container would) and stays
	// stopped, its pod unready, until the fault is cleared: then it starts again on the same pod
	// and returns to its cluster. Cores only (a stopped replicant leaves the cluster for good).
	Stopped bool `json:"stopped,omitempty"`
}
