package fleetbench

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpuModel"`
	MemoryKB int64  `json:"memoryKB"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Date     string `json:"date"`
}

// ThisMachine reads /proc for the machine's description.
func ThisMachine(now time.Time) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Date: now.UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		_, _ = fmt.Sscanf(string(b), "MemTotal: %d kB", &m.MemoryKB)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// Report is what one `make bench-scale` writes: every run and the summaries.
type Report struct {
	Machine   Machine   `json:"machine"`
	Settings  Settings  `json:"settings"`
	Summaries []Summary `json:"summaries"`
	Runs      []Run     `json:"runs"`
}

// Settings are the invocation's parameters.
type Settings struct {
	Sizes           []int    `json:"sizes"`
	Runs            int      `json:"runs"`
	CoresPerCluster int      `json:"coresPerCluster"`
	IdleSeconds     float64  `json:"idleSeconds"`
	SettleSeconds   float64  `json:"settleSeconds"`
	SimTimeScale    float64  `json:"simulatorTimeScale"`
	OperatorArgs    []string `json:"operatorArgs"`
}

// Markdown renders the report as the table docs/bench-scale.md explains.
func (r Report) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# Fleet benchmark\n\n%s; %d CPUs (%s), %d MiB, kernel %s, %s. ", m.Date, m.CPUs, m.CPUModel, m.MemoryKB/1024, m.Kernel, m.Go)
	st := r.Settings
	fmt.Fprintf(&b, "%d run(s) per size, %d cores per cluster, simulator time scale %g, idle window %gs after %gs to settle; operator flags: `%s`.\n",
		st.Runs, st.CoresPerCluster, st.SimTimeScale, st.IdleSeconds, st.SettleSeconds, strings.Join(st.OperatorArgs, " "))
	b.WriteString("Each cell: median (min–max over the runs).\n")
	for _, s := range r.Summaries {
		fmt.Fprintf(&b, "\n## N = %d (%d run(s))\n\n", s.Size, s.Runs)
		b.WriteString("| | bare control plane | this operator |\n|---|---|---|\n")
		row := func(name, bare, op string) { fmt.Fprintf(&b, "| %s | %s | %s |\n", name, bare, op) }
		row("all Ready after apply (s)", fig(s.BareConverge, 1), fig(s.OperatorConverge, 1)+" = "+fig(s.Ratio, 2)+" × bare")
		row("operator CPU to converge (s)", "—", fig(s.OperatorCPUConverge, 2))
		row("operator CPU per 180 s idle (s)", "—", fig(s.OperatorCPUIdle, 2)+"; per cluster "+fig(s.OperatorCPUIdlePerCluster, 4))
		row("operator API requests per 180 s idle", "—", counts(s.IdleRequests))
		row("operator uncached reads per 180 s idle (audit log)", "—", fig(s.IdleReads, 0))
		row("EMQX API reads per cluster per 30 s idle", "—", fig(s.EMQXReadsPerCluster, 2))
		row("reconciles while converging", "—", counts(s.ReconcilesConverge))
		row("reconciles per 180 s idle", "—", counts(s.ReconcilesIdle))
		row("operator peak RSS (MiB)", "—", fig(s.PeakRSSMiB, 0))
		row("control plane CPU to converge (s)", fig(s.ControlPlaneCPUBare, 1), fig(s.ControlPlaneCPUOperator, 1))
		row("control plane CPU per 180 s idle (s)", "—", fig(s.ControlPlaneCPUIdle, 1))
		if len(s.Steps) > 0 {
			b.WriteString("\nWhere the operator's converging time went (all passes, by step):\n\n| step | seconds |\n|---|---|\n")
			for i, st := range s.Steps {
				if i == 8 {
					break
				}
				fmt.Fprintf(&b, "| %s | %s |\n", st.Step, fig(st.Seconds, 2))
			}
		}
		b.WriteString("\nTargets (on the medians):\n\n| figure | target | measured | met |\n|---|---|---|---|\n")
		for _, t := range s.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Figure, t.Want, trim(t.Got, 4), met)
		}
	}
	return b.String()
}

func fig(f Figure, digits int) string {
	if f.Runs <= 1 {
		return trim(f.Median, digits)
	}
	return fmt.Sprintf("%s (%s–%s)", trim(f.Median, digits), trim(f.Min, digits), trim(f.Max, digits))
}

func trim(v float64, digits int) string { return fmt.Sprintf("%.*f", digits, v) }

// counts is a map of counts by verb or kind, "none" when empty.
func counts(m map[string]Figure) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + fig(m[k], 0)
	}
	return strings.Join(parts, ", ")
}
