package chaos

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The fixed seed `make test` runs (CHAOS_TEST_SEED in the Makefile) gets through about 40 steps
// in its four minutes. It is chosen so that those steps do every kind of step at least once, and
// restore a backup taken a few steps earlier on the same cluster; a change of the weights or of
// Generate that breaks this needs a new seed, or make test stops exercising what it claims.
func TestTheMakeTestSeedDoesEveryKindInItsFirstSteps(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CHAOS_TEST_SEED \?= (\d+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile sets no CHAOS_TEST_SEED")
	}
	seed, err := strconv.ParseUint(string(m[1]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	const steps, clusters = 40, 3 // CHAOS_CLUSTERS in test-e2e-chaos
	done := map[Kind]bool{}
	backedUp := map[int]int{} // cluster: index of its first backup
	restored := false
	for _, s := range Generate(seed, clusters, 0, steps) {
		done[s.Kind] = true
		if _, ok := backedUp[s.Cluster]; s.Kind == Backup && !ok {
			backedUp[s.Cluster] = s.Index
		}
		// A backup takes a few seconds; steps come every 0.3–3 s.
		if b, ok := backedUp[s.Cluster]; s.Kind == Restore && ok && s.Index-b >= 4 {
			restored = true
		}
	}
	for _, w := range weights {
		if !done[w.kind] {
			t.Errorf("seed %d: no %s step in its first %d", seed, w.kind, steps)
		}
	}
	if !restored {
		t.Errorf("seed %d: no restore of a backup taken at least 4 steps earlier in its first %d steps", seed, steps)
	}
}
