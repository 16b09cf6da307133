package apply

import "testing"

func TestContains(t *testing.T) {
	cases := []struct {
		name       string
		have, want any
		ok         bool
	}{
		{"equal scalars", "a", "a", true},
		{"different scalars", "a", "b", false},
		{"int and float", int64(3), float64(3), true},
		{"extra field in live", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1"}, true},
		{"missing field in live", map[string]any{"b": "2"}, map[string]any{"a": "1"}, false},
		{"zero in want is unset", map[string]any{}, map[string]any{"a": "", "b": int64(0), "c": nil, "d": map[string]any{}}, true},
		{"list length differs", []any{"a", "b"}, []any{"a"}, false},
		{"list element differs", []any{map[string]any{"n": "x"}}, []any{map[string]any{"n": "y"}}, false},
		{"list element with defaults", []any{map[string]any{"n": "x", "protocol": "TCP"}}, []any{map[string]any{"n": "x"}}, true},
		{"changed value deep", map[string]any{"s": map[string]any{"r": int64(3)}}, map[string]any{"s": map[string]any{"r": int64(2)}}, false},
	}
	for _, c := range cases {
		if got := contains(c.have, c.want); got != c.ok {
			t.Errorf("%s: contains = %v, want %v", c.name, got, c.ok)
		}
	}
}
