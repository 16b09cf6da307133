package benchscale

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/fleetbench"
)

func report(runs []fleetbench.Run, started time.Time) fleetbench.Report {
	return fleetbench.Report{
		Machine: fleetbench.ThisMachine(started),
		Settings: fleetbench.Settings{Sizes: plan.Sizes, Runs: plan.Runs, CoresPerCluster: plan.Cores,
			IdleSeconds: plan.Idle.Seconds(), SettleSeconds: plan.Settle.Seconds(), SimTimeScale: simTimeScale,
			OperatorArgs: operatorArgs("127.0.0.1:PORT", "127.0.0.1:PORT")},
		Summaries: fleetbench.Summarize(runs),
		Runs:      runs,
	}
}

// writeReport writes bench-scale.json and bench-scale.md under the output directory (relative
// paths are from the checkout).
func writeReport(t *testing.T, runs []fleetbench.Run, started time.Time) {
	t.Helper()
	dir := outDir(t)
	rep := report(runs, started)
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-scale.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-scale.md"), []byte(rep.Markdown()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// outDir is the output directory, made if need be (relative paths are from the checkout).
func outDir(t testing.TB) string {
	t.Helper()
	dir := plan.Out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(env.RepoRoot(), dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
