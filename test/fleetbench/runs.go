package fleetbench

// Run is one size's one run, both sides.
type Run struct {
	Size     int         `json:"size"`
	Run      int         `json:"run"`
	Bare     BareRun     `json:"bare"`
	Operator OperatorRun `json:"operator"`
}

// BareRun: the operator's rendered objects applied directly (`manager render | kubectl apply`);
// Ready is every pod Ready.
type BareRun struct {
	ConvergeSeconds float64 `json:"convergeSeconds"`
	// ControlPlaneCPU is the local cluster's CPU-seconds from the apply to Ready.
	ControlPlaneCPU float64 `json:"controlPlaneCPUSeconds"`
}

// OperatorRun: the EMQX resources applied and the operator left to do the rest; Ready is every
// resource's Ready condition True.
type OperatorRun struct {
	ConvergeSeconds float64 `json:"convergeSeconds"`
	ControlPlaneCPU float64 `json:"controlPlaneCPUSeconds"`
	// Converge: the operator's metrics from the apply to Ready; Idle: over IdleSeconds, which
	// starts a settle time after Ready.
	Converge    OperatorMetrics `json:"converge"`
	Idle        OperatorMetrics `json:"idle"`
	IdleSeconds float64         `json:"idleSeconds"`
	// ControlPlaneIdleCPU is the local cluster's CPU-seconds over the idle window.
	ControlPlaneIdleCPU float64 `json:"controlPlaneIdleCPUSeconds"`
	// IdleUncachedReads: the operator's get and list requests over the idle window, from the
	// API server's audit log (AuditReads); IdleReadsByURI says which.
	IdleUncachedReads int            `json:"idleUncachedReads"`
	IdleReadsByURI    map[string]int `json:"idleReadsByURI,omitempty"`
	// EMQXCallsIdle: the EMQX API calls the simulated nodes answered over the idle window.
	EMQXCallsIdle int64 `json:"emqxCallsIdle"`
	// PeakRSSBytes is the kernel's maxrss of the operator process, read when it exited.
	PeakRSSBytes int64 `json:"peakRSSBytes"`
}

// Writes are the requests that change something. A GET is an uncached read or a watch being set
// up again: the reads are counted from the audit log instead.
var writeVerbs = []string{"POST", "PUT", "PATCH", "DELETE"}

// IdleWrites and IdleReads are the operator's API requests over the idle window.
func (r OperatorRun) IdleWrites() float64 {
	n := 0.0
	for _, v := range writeVerbs {
		n += r.Idle.Requests[v]
	}
	return n
}

func (r OperatorRun) IdleReads() float64 { return float64(r.IdleUncachedReads) }
