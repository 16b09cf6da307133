package v2beta1

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/utils/ptr"
)

// defaultedNumber is a field the schema defaults that may be 0, with its accessor.
type defaultedNumber struct {
	path  string // under spec, as JSON spells it
	def   int32
	field func(*EMQX) **int32
	read  func(*EMQX) int32
}

var defaultedNumbers = []defaultedNumber{
	{"revisionHistoryLimit", DefaultRevisionHistoryLimit,
		func(e *EMQX) **int32 { return &e.Spec.RevisionHistoryLimit },
		(*EMQX).RevisionsKept},
	{"updateStrategy.initialDelaySeconds", DefaultInitialDelaySeconds,
		func(e *EMQX) **int32 { return &e.Spec.UpdateStrategy.InitialDelaySeconds },
		func(e *EMQX) int32 { return e.Spec.UpdateStrategy.InitialDelay() }},
	{"updateStrategy.evacuationStrategy.waitTakeover", DefaultWaitTakeover,
		func(e *EMQX) **int32 { return &e.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover },
		func(e *EMQX) int32 { return e.Spec.UpdateStrategy.EvacuationStrategy.TakeoverWait() }},
}

// The defaulted numbers that may be 0: Default fills them only when unset, and their accessors
// read an unset one as its default, so an explicit 0 means 0 everywhere.
func TestDefaultFillsOnlyUnsetNumbers(t *testing.T) {
	rows := []struct {
		name string
		set  *int32
		want int32
	}{
		{"unset gets the default", nil, -1},
		{"an explicit 0 stays", ptr.To(int32(0)), 0},
		{"another value stays", ptr.To(int32(7)), 7},
	}
	for _, f := range defaultedNumbers {
		for _, row := range rows {
			want := row.want
			if row.set == nil {
				want = f.def
			}
			t.Run(f.path+"/"+row.name, func(t *testing.T) {
				e := &EMQX{}
				*f.field(e) = row.set
				if got := f.read(e); got != want {
					t.Errorf("read before Default: %d, want %d", got, want)
				}
				for pass := 1; pass <= 2; pass++ { // Default is idempotent
					e.Default()
					if got := *f.field(e); got == nil || *got != want {
						t.Fatalf("after Default (pass %d): %v, want %d", pass, got, want)
					}
				}
				if got := f.read(e); got != want {
					t.Errorf("read after Default: %d, want %d", got, want)
				}
			})
		}
	}
}

// WithDefaultRates fills the rates of a strategy the API server never defaulted (the rates'
// minimum is 1, so both at 0 means unset), and never replaces a takeover wait that is set.
func TestWithDefaultRates(t *testing.T) {
	ten, thousand := DefaultWaitTakeover, DefaultEvictRate
	for _, tc := range []struct {
		name     string
		in, want EvacuationStrategy
	}{
		{"nothing set: the three defaults",
			EvacuationStrategy{},
			EvacuationStrategy{WaitTakeover: ptr.To(ten), ConnEvictRate: thousand, SessEvictRate: thousand}},
		{"an explicit 0 wait and no rates: the rates, the 0 stays",
			EvacuationStrategy{WaitTakeover: ptr.To(int32(0))},
			EvacuationStrategy{WaitTakeover: ptr.To(int32(0)), ConnEvictRate: thousand, SessEvictRate: thousand}},
		{"a wait and no rates: unchanged, as before the wait was a pointer",
			EvacuationStrategy{WaitTakeover: ptr.To(int32(5))},
			EvacuationStrategy{WaitTakeover: ptr.To(int32(5))}},
		{"rates set and no wait: unchanged (TakeoverWait reads the default)",
			EvacuationStrategy{ConnEvictRate: 50, SessEvictRate: 60},
			EvacuationStrategy{ConnEvictRate: 50, SessEvictRate: 60}},
		{"everything set, the wait to 0: unchanged",
			EvacuationStrategy{WaitTakeover: ptr.To(int32(0)), ConnEvictRate: 50, SessEvictRate: 60},
			EvacuationStrategy{WaitTakeover: ptr.To(int32(0)), ConnEvictRate: 50, SessEvictRate: 60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.WithDefaultRates(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %s, want %s", asJSON(t, got), asJSON(t, tc.want))
			}
		})
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
