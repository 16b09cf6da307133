package validation

import (
	"strings"
	"testing"
)

func TestAnnotations(t *testing.T) {
	cases := []struct {
		name, annotation, says string
	}{
		{"the acceptance, spelt right", "apps.emqx.io/accept-upgrade-path", ""},
		{"pause, spelt right", "apps.emqx.io/paused", ""},
		{"a letter missing", "apps.emqx.io/accept-upgrade-pat", "did you mean apps.emqx.io/accept-upgrade-path?"},
		{"a plural", "apps.emqx.io/accept-upgrade-paths", "did you mean apps.emqx.io/accept-upgrade-path?"},
		{"underscores", "apps.emqx.io/accept_upgrade_path", "did you mean apps.emqx.io/accept-upgrade-path?"},
		{"pause in another tense", "apps.emqx.io/pause", "did you mean apps.emqx.io/paused?"},
		{"lower redundancy, spelt right", "apps.emqx.io/accept-lower-ds-redundancy", ""},
		{"lower redundancy, a letter off", "apps.emqx.io/accept-lower-ds-redundancey", "did you mean apps.emqx.io/accept-lower-ds-redundancy?"},
		{"the vendor's bookkeeping is left alone", "apps.emqx.io/last-emqx-configuration", ""},
		{"another prefix is left alone", "example.com/accept-upgrade-pat", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEMQX("")
			e.Annotations = map[string]string{c.annotation: "6.1.0"}
			p := Annotations(e)
			switch {
			case c.says == "" && p != nil:
				t.Fatalf("refused: %v", p)
			case c.says != "" && (p == nil || p.Reason != ReasonUnknownAnnotation || !strings.Contains(p.Message, c.says)):
				t.Fatalf("got %v, want %s saying %q", p, ReasonUnknownAnnotation, c.says)
			}
		})
	}
}
