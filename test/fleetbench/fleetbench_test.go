package fleetbench

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFigureOf(t *testing.T) {
	cases := []struct {
		name   string
		values []float64
		want   Figure
	}{
		{"no runs", nil, Figure{}},
		{"one run", []float64{3}, Figure{Median: 3, Min: 3, Max: 3, Runs: 1}},
		{"odd runs: the middle one", []float64{40, 24, 25}, Figure{Median: 25, Min: 24, Max: 40, Runs: 3}},
		{"even runs: the mean of the middle two", []float64{4, 1, 3, 2}, Figure{Median: 2.5, Min: 1, Max: 4, Runs: 4}},
	}
	for _, c := range cases {
		if got := FigureOf(c.values); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if p := (Figure{Median: 20, Min: 19, Max: 21}).SpreadPercent(); p != 10 {
		t.Errorf("spread %v%%, want 10%%", p)
	}
}

func TestCPUTicks(t *testing.T) {
	// A command name with a space and a parenthesis, as /proc shows it.
	stat := "4242 (kube apiserver)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1500 250 40 10 20 0 12 0 100 0 0"
	got, err := cpuTicks(stat)
	if err != nil || got != 1800 {
		t.Errorf("cpuTicks = %v, %v; want 1800 (utime 1500 + stime 250 + cutime 40 + cstime 10)", got, err)
	}
	if _, err := cpuTicks("4242 (x) S 1 2"); err == nil {
		t.Error("a short stat line gave no error")
	}
}

func run(size, i int, bare, op float64, idleCPU float64, writes, gets float64, emqxCalls int64, rssMiB int64) Run {
	return Run{Size: size, Run: i,
		Bare: BareRun{ConvergeSeconds: bare, ControlPlaneCPU: 10},
		Operator: OperatorRun{ConvergeSeconds: op, ControlPlaneCPU: 12, IdleSeconds: 90,
			Converge: OperatorMetrics{CPUSeconds: 8, Reconciles: map[string]float64{"emqx": 400},
				StepSeconds: map[string]float64{"EMQX/Apply": 3, "EMQX/Plan": 1}},
			Idle: OperatorMetrics{CPUSeconds: idleCPU, Requests: map[string]float64{"PATCH": writes, "GET": gets + 3},
				Reconciles: map[string]float64{"emqx": 300}},
			IdleUncachedReads: int(gets), EMQXCallsIdle: emqxCalls, PeakRSSBytes: rssMiB << 20}}
}

func TestSummarize(t *testing.T) {
	runs := []Run{
		run(100, 1, 20, 21, 0.5, 0, 0, 150, 80),
		run(100, 2, 25, 30, 1.0, 0, 0, 300, 90),
		run(100, 3, 22, 22, 0.7, 2, 1, 200, 95),
		run(500, 1, 100, 200, 5, 0, 0, 1000, 190),
	}
	sums := Summarize(runs)
	if len(sums) != 2 || sums[0].Size != 100 || sums[1].Size != 500 {
		t.Fatalf("sizes: %+v", sums)
	}
	s := sums[0]
	// Ratios per run: 1.05, 1.2, 1.0 → median 1.05 (not 22/22: the runs are paired).
	if math.Abs(s.Ratio.Median-1.05) > 1e-9 || s.Ratio.Max != 1.2 {
		t.Errorf("ratio %+v", s.Ratio)
	}
	// Idle figures are per 180 s: the runs idled 90 s.
	if s.OperatorCPUIdle.Median != 1.4 || math.Abs(s.OperatorCPUIdlePerCluster.Median-0.014) > 1e-12 {
		t.Errorf("idle CPU %+v, per cluster %+v", s.OperatorCPUIdle, s.OperatorCPUIdlePerCluster)
	}
	if s.IdleWrites.Median != 0 || s.IdleWrites.Max != 4 || s.IdleReads.Max != 2 {
		t.Errorf("idle writes %+v, reads %+v", s.IdleWrites, s.IdleReads)
	}
	// 200 calls / 100 clusters over 90 s = 0.667 per cluster per 30 s.
	if math.Abs(s.EMQXReadsPerCluster.Median-2.0/3) > 1e-9 {
		t.Errorf("EMQX reads %+v", s.EMQXReadsPerCluster)
	}
	if s.ReconcilesIdle["emqx"].Median != 600 || s.PeakRSSMiB.Median != 90 {
		t.Errorf("reconciles %+v, RSS %+v", s.ReconcilesIdle, s.PeakRSSMiB)
	}
	if len(s.Steps) != 2 || s.Steps[0].Step != "EMQX/Apply" {
		t.Errorf("steps %+v", s.Steps)
	}
	met := map[string]bool{}
	for _, tg := range s.Targets {
		met[tg.Figure] = tg.Met
	}
	want := map[string]bool{"convergence / bare": true, "idle writes per 180 s": true, "idle uncached reads per 180 s": true,
		"idle CPU-s per cluster per 180 s": true, "EMQX API reads per cluster per 30 s": true, "peak RSS MiB": true}
	for k, v := range want {
		if met[k] != v {
			t.Errorf("target %q met = %v, want %v", k, met[k], v)
		}
	}
	// N = 500: ratio 2 misses; its RSS target is 200 MiB.
	for _, tg := range sums[1].Targets {
		if tg.Figure == "convergence / bare" && tg.Met || tg.Figure == "peak RSS MiB" && (tg.Want != "<= 200" || !tg.Met) {
			t.Errorf("N=500 target %+v", tg)
		}
	}

	md := Report{Summaries: sums, Settings: Settings{Runs: 3}}.Markdown()
	for _, want := range []string{"## N = 100 (3 run(s))", "| all Ready after apply (s) | 22.0 (20.0–25.0) | 22.0 (21.0–30.0) = 1.05 (1.00–1.20) × bare |",
		"GET 6 (6–8), PATCH 0 (0–4)", "| operator uncached reads per 180 s idle (audit log) | — | 0 (0–2) |", "| EMQX/Apply |", "| convergence / bare | <= 1.05 | 1.0500 | yes |", "## N = 500 (1 run(s))"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// Only the operator's gets and lists inside the window count: not its watches, not other
// clients' reads, not reads before or after.
func TestAuditReads(t *testing.T) {
	at := func(s int) string { return time.Date(2026, 12, 7, 12, 0, s, 0, time.UTC).Format(time.RFC3339Nano) }
	lines := []string{
		`{"verb":"get","userAgent":"manager/v0.0.0 (linux/amd64) kubernetes/$Format","requestURI":"/api/v1/namespaces/a/secrets/x","requestReceivedTimestamp":"` + at(10) + `"}`,
		`{"verb":"list","userAgent":"manager/v0.0.0 (linux/amd64) kubernetes/$Format","requestURI":"/apis/apps.emqx.io/v2beta1/emqxes?limit=500","requestReceivedTimestamp":"` + at(20) + `"}`,
		`{"verb":"watch","userAgent":"manager/v0.0.0 (linux/amd64) kubernetes/$Format","requestURI":"/api/v1/pods?watch=true","requestReceivedTimestamp":"` + at(20) + `"}`,
		`{"verb":"get","userAgent":"kube-controller-manager/v1.35.0","requestURI":"/api/v1/nodes/n","requestReceivedTimestamp":"` + at(20) + `"}`,
		`{"verb":"get","userAgent":"manager/v0.0.0 (linux/amd64) kubernetes/$Format","requestURI":"/api/v1/namespaces/a/secrets/x","requestReceivedTimestamp":"` + at(5) + `"}`,
		`{"verb":"get","userAgent":"manager/v0.0.0 (linux/amd64) kubernetes/$Format","requestURI":"/api/v1/namespaces/a/secrets/x","requestReceivedTimestamp":"` + at(30) + `"}`,
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 12, 7, 12, 0, 10, 0, time.UTC), time.Date(2026, 12, 7, 12, 0, 30, 0, time.UTC)
	total, byURI, err := AuditReads(path, "manager/", from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"get /api/v1/namespaces/a/secrets/x": 1, "list /apis/apps.emqx.io/v2beta1/emqxes": 1}
	if total != 2 || !reflect.DeepEqual(byURI, want) {
		t.Errorf("AuditReads = %d %v, want 2 %v", total, byURI, want)
	}
	if err := os.WriteFile(path, []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AuditReads(path, "manager/", from, to); err == nil {
		t.Error("a line that is not JSON was not reported")
	}
}
