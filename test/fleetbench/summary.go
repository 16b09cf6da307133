package fleetbench

import (
	"sort"
)

// IdleBasis is the idle window the figures are given for (the 180 s), whatever window
// the runs used.
const IdleBasis = 180.0

// EMQXBasis is the period EMQX API reads are counted over, per cluster.
const EMQXBasis = 30.0

// Summary is one fleet size over its runs.
type Summary struct {
	Size int `json:"size"`
	Runs int `json:"runs"`

	BareConverge     Figure `json:"bareConvergeSeconds"`
	OperatorConverge Figure `json:"operatorConvergeSeconds"`
	// Ratio is each run's operator time over the same run's bare time: pairing the two sides of
	// a run cancels some of the machine's noise.
	Ratio Figure `json:"convergeRatio"`

	OperatorCPUConverge Figure `json:"operatorCPUConvergeSeconds"`
	// Idle figures are per IdleBasis seconds.
	OperatorCPUIdle           Figure            `json:"operatorCPUIdleSeconds"`
	OperatorCPUIdlePerCluster Figure            `json:"operatorCPUIdleSecondsPerCluster"`
	IdleWrites                Figure            `json:"idleWrites"`
	IdleReads                 Figure            `json:"idleUncachedReads"`
	IdleRequests              map[string]Figure `json:"idleRequestsByVerb"`
	EMQXReadsPerCluster       Figure            `json:"emqxReadsPerClusterPer30s"`
	ReconcilesConverge        map[string]Figure `json:"reconcilesConverge"`
	ReconcilesIdle            map[string]Figure `json:"reconcilesIdle"`
	PeakRSSMiB                Figure            `json:"peakRSSMiB"`

	ControlPlaneCPUBare     Figure `json:"controlPlaneCPUBareSeconds"`
	ControlPlaneCPUOperator Figure `json:"controlPlaneCPUOperatorSeconds"`
	ControlPlaneCPUIdle     Figure `json:"controlPlaneCPUIdleSeconds"`

	// Steps: where the operator's convergence time went, by named step (sum over every pass),
	// the costliest first.
	Steps []StepFigure `json:"steps"`
	// Targets: the targets, checked on the medians.
	Targets []Target `json:"targets"`
}

// StepFigure is one reconcile step's total time while converging.
type StepFigure struct {
	Step    string `json:"step"`
	Seconds Figure `json:"seconds"`
}

// Target is one target and whether the median met it.
type Target struct {
	Figure string  `json:"figure"`
	Want   string  `json:"want"`
	Got    float64 `json:"got"`
	Met    bool    `json:"met"`
}

// Summarize groups runs by size, in the order sizes first appear.
func Summarize(runs []Run) []Summary {
	var sizes []int
	bySize := map[int][]Run{}
	for _, r := range runs {
		if _, ok := bySize[r.Size]; !ok {
			sizes = append(sizes, r.Size)
		}
		bySize[r.Size] = append(bySize[r.Size], r)
	}
	out := make([]Summary, 0, len(sizes))
	for _, n := range sizes {
		out = append(out, summarize(n, bySize[n]))
	}
	return out
}

func summarize(n int, runs []Run) Summary {
	s := Summary{Size: n, Runs: len(runs)}
	over := func(f func(Run) float64) Figure {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return FigureOf(v)
	}
	perIdle := func(r Run, x float64) float64 {
		if r.Operator.IdleSeconds <= 0 {
			return 0
		}
		return x * IdleBasis / r.Operator.IdleSeconds
	}
	s.BareConverge = over(func(r Run) float64 { return r.Bare.ConvergeSeconds })
	s.OperatorConverge = over(func(r Run) float64 { return r.Operator.ConvergeSeconds })
	s.Ratio = over(func(r Run) float64 {
		if r.Bare.ConvergeSeconds <= 0 {
			return 0
		}
		return r.Operator.ConvergeSeconds / r.Bare.ConvergeSeconds
	})
	s.OperatorCPUConverge = over(func(r Run) float64 { return r.Operator.Converge.CPUSeconds })
	s.OperatorCPUIdle = over(func(r Run) float64 { return perIdle(r, r.Operator.Idle.CPUSeconds) })
	s.OperatorCPUIdlePerCluster = over(func(r Run) float64 { return perIdle(r, r.Operator.Idle.CPUSeconds) / float64(n) })
	s.IdleWrites = over(func(r Run) float64 { return perIdle(r, r.Operator.IdleWrites()) })
	s.IdleReads = over(func(r Run) float64 { return perIdle(r, r.Operator.IdleReads()) })
	s.IdleRequests = byKey(runs, func(r Run) map[string]float64 { return scaled(r.Operator.Idle.Requests, perIdle(r, 1)) })
	s.EMQXReadsPerCluster = over(func(r Run) float64 {
		if r.Operator.IdleSeconds <= 0 {
			return 0
		}
		return float64(r.Operator.EMQXCallsIdle) / float64(n) * EMQXBasis / r.Operator.IdleSeconds
	})
	s.ReconcilesConverge = byKey(runs, func(r Run) map[string]float64 { return r.Operator.Converge.Reconciles })
	s.ReconcilesIdle = byKey(runs, func(r Run) map[string]float64 { return scaled(r.Operator.Idle.Reconciles, perIdle(r, 1)) })
	s.PeakRSSMiB = over(func(r Run) float64 { return float64(r.Operator.PeakRSSBytes) / (1 << 20) })
	s.ControlPlaneCPUBare = over(func(r Run) float64 { return r.Bare.ControlPlaneCPU })
	s.ControlPlaneCPUOperator = over(func(r Run) float64 { return r.Operator.ControlPlaneCPU })
	s.ControlPlaneCPUIdle = over(func(r Run) float64 { return perIdle(r, r.Operator.ControlPlaneIdleCPU) })
	for step, f := range byKey(runs, func(r Run) map[string]float64 { return r.Operator.Converge.StepSeconds }) {
		s.Steps = append(s.Steps, StepFigure{Step: step, Seconds: f})
	}
	sort.Slice(s.Steps, func(i, j int) bool {
		if s.Steps[i].Seconds.Median != s.Steps[j].Seconds.Median {
			return s.Steps[i].Seconds.Median > s.Steps[j].Seconds.Median
		}
		return s.Steps[i].Step < s.Steps[j].Step
	})
	s.Targets = targets(s)
	return s
}

// targets are issue 19's, on the medians.
func targets(s Summary) []Target {
	t := []Target{
		{Figure: "convergence / bare", Want: "<= 1.05", Got: s.Ratio.Median, Met: s.Ratio.Median <= 1.05},
		{Figure: "idle writes per 180 s", Want: "0", Got: s.IdleWrites.Median, Met: s.IdleWrites.Median == 0},
		{Figure: "idle uncached reads per 180 s", Want: "0", Got: s.IdleReads.Median, Met: s.IdleReads.Median == 0},
		{Figure: "idle CPU-s per cluster per 180 s", Want: "<= 0.02", Got: s.OperatorCPUIdlePerCluster.Median,
			Met: s.OperatorCPUIdlePerCluster.Median <= 0.02},
		{Figure: "EMQX API reads per cluster per 30 s", Want: "<= 1", Got: s.EMQXReadsPerCluster.Median,
			Met: s.EMQXReadsPerCluster.Median <= 1},
	}
	switch {
	case s.Size <= 150:
		t = append(t, Target{Figure: "peak RSS MiB", Want: "<= 100", Got: s.PeakRSSMiB.Median, Met: s.PeakRSSMiB.Median <= 100})
	case s.Size <= 500:
		t = append(t, Target{Figure: "peak RSS MiB", Want: "<= 200", Got: s.PeakRSSMiB.Median, Met: s.PeakRSSMiB.Median <= 200})
	}
	return t
}

// byKey summarises a per-run map key by key; a key a run lacks counts as 0 in that run.
func byKey(runs []Run, f func(Run) map[string]float64) map[string]Figure {
	keys := map[string]bool{}
	for _, r := range runs {
		for k := range f(r) {
			keys[k] = true
		}
	}
	out := map[string]Figure{}
	for k := range keys {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)[k]
		}
		out[k] = FigureOf(v)
	}
	return out
}

func scaled(m map[string]float64, by float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v * by
	}
	return out
}
