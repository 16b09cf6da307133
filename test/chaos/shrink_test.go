package chaos

import (
	"testing"
)

// failsWith: a failure that needs every listed step, in any order, among others.
func failsWith(need ...int) func([]Step) bool {
	return func(steps []Step) bool {
		have := map[int]bool{}
		for _, s := range steps {
			have[s.Index] = true
		}
		for _, n := range need {
			if !have[n] {
				return false
			}
		}
		return true
	}
}

func TestShrinkFindsTheStepsAFailureNeeds(t *testing.T) {
	steps := Generate(7, 3, 0, 40)
	for _, tc := range []struct {
		need []int
		want string
	}{
		{[]int{17}, "17"},
		{[]int{3, 31}, "3,31"},
		{[]int{0, 12, 39}, "0,12,39"},
	} {
		got, used := Shrink(steps, failsWith(tc.need...), 200)
		if Indexes(got) != tc.want {
			t.Errorf("need %v: shrunk to %s after %d replays, want %s", tc.need, Indexes(got), used, tc.want)
		}
	}
}

func TestShrinkStopsAtItsBudget(t *testing.T) {
	steps := Generate(7, 3, 0, 40)
	calls := 0
	got, used := Shrink(steps, func(s []Step) bool { calls++; return failsWith(5, 25)(s) }, 3)
	if used != 3 || calls != 3 {
		t.Errorf("used %d replays (%d calls), want 3", used, calls)
	}
	if !failsWith(5, 25)(got) {
		t.Errorf("returned a list that does not fail: %s", Indexes(got))
	}
}

func TestGenerateIsStablePerStep(t *testing.T) {
	all := Generate(42, 3, 0, 50)
	tail := Generate(42, 3, 20, 30)
	for i := range tail {
		if tail[i] != all[20+i] {
			t.Fatalf("step %d differs when generated from offset 20: %v vs %v", tail[i].Index, tail[i], all[20+i])
		}
	}
	kinds := map[Kind]bool{}
	for _, s := range Generate(42, 3, 0, 2000) {
		kinds[s.Kind] = true
	}
	if len(kinds) != len(weights) {
		t.Errorf("2000 steps used %d kinds of %d", len(kinds), len(weights))
	}
	picked, err := Select(all, "3, 17,40")
	if err != nil || Indexes(picked) != "3,17,40" {
		t.Errorf("Select = %s, %v", Indexes(picked), err)
	}
	if _, err := Select(all, "3,x"); err == nil {
		t.Error("Select took a step number that is not one")
	}
}
