package v2beta1

import (
	"testing"

	"k8s.io/utils/ptr"

	"github.com/broker-ops/emqx-operator/api/internal/converttest"
)

// A number the schema defaults keeps an explicit 0 through the operator's hands and the API
// server's: a user writes it, the operator reads the object, defaults it in Go and writes it back
// (as a Go client does, omitempty included), and the API server, whose defaulting fills every
// field the JSON lacks, stores and returns it. Left out, it gets the schema's default.
func TestDefaultedNumbersSurviveTheAPIServer(t *testing.T) {
	for _, f := range defaultedNumbers {
		for _, tc := range []struct {
			name    string
			written any // nil: left out
			want    int32
		}{
			{"an explicit 0 stays", 0, 0},
			{"another value stays", 7, 7},
			{"left out, the default", nil, f.def},
		} {
			t.Run(f.path+"/"+tc.name, func(t *testing.T) {
				fields := map[string]any{"metadata.name": "c", "spec.image": "emqx/emqx-enterprise:5.8.6"}
				if tc.written != nil {
					fields["spec."+f.path] = tc.written
				}
				// The user's write, as kubectl sends it.
				read := &EMQX{}
				converttest.StoreJSON(t, converttest.JSONObject(t, fields), read)
				check(t, f, "the operator's first read", read, tc.want)

				// The operator's own write, of the object as it works on it, and the next read.
				read.Default()
				again := &EMQX{}
				converttest.ThroughTheAPIServer(t, read, again)
				check(t, f, "the read after the operator's write", again, tc.want)
			})
		}
	}
}

func check(t *testing.T, f defaultedNumber, when string, e *EMQX, want int32) {
	t.Helper()
	if got := *f.field(e); ptr.Deref(got, -1) != want {
		t.Errorf("%s: spec.%s is %s, want %d", when, f.path, converttest.Number(got), want)
	}
	if got := f.read(e); got != want {
		t.Errorf("%s: spec.%s reads %d, want %d", when, f.path, got, want)
	}
}
