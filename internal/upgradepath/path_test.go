package upgradepath

import (
	"strings"
	"testing"
)

func v(s string) Version { return mustParse(s) }

func TestDecide(t *testing.T) {
	cases := []struct {
		name     string
		from, to string
		ds       bool
		accepted string
		refused  bool
		warning  bool
		rule     string
		says     string
	}{
		{"1 same release", "6.1.0", "6.1.0", true, "", false, false, "", ""},
		{"2 a custom tag cannot be checked: allowed with a warning", "", "6.1.0", false, "", false, true, RuleUnknownVersion, "cannot be checked"},
		{"supported: 5.10 to 6.1 without durable sessions", "5.10.1", "6.1.0", false, "", false, false, "", ""},
		{"supported: 6.0 to 6.3", "6.0.1", "6.3.0", false, "", false, false, "", ""},
		{"supported: patch upgrade", "5.10.1", "5.10.2", true, "", false, false, "", ""},
		{"4 back across the major", "6.0.0", "5.10.1", false, "", true, false, RuleDowngradeAcrossMajor, "restore a backup"},
		{"5 back below 6.1.1 with durable sessions", "6.1.1", "6.1.0", true, "", true, false, RuleDowngradeAcrossDS, "6.1.1 changed"},
		{"5 back below 6.1.1 without durable sessions is a plain rollback", "6.1.1", "6.1.0", false, "", false, true, RuleDowngrade, "rolling upgrades only"},
		{"6 5.3 to 5.10 needs 5.9 and a full restart", "5.3.2", "5.10.1", false, "", true, false, RuleNeedsIntermediate, "upgrade to 5.9 first"},
		{"7 5.10 to 6.1 with durable sessions", "5.10.1", "6.1.0", true, "", true, false, RuleDurableSessionsToV6, "recreated from a clean state"},
		{"7 a floating 6 minor with durable sessions", "5.10.1", "6.1", true, "", true, false, RuleDurableSessionsToV6, "recreated"},
		{"8 to 6.2.0 with durable sessions", "6.1.1", "6.2.0", true, "", true, false, RuleStuckDSTarget, "6.2.1 or later"},
		{"8 to 6.2.0 without durable sessions", "6.1.1", "6.2.0", false, "", false, false, "", ""},
		{"8 a floating 6.2 tag is the newest 6.2, not 6.2.0", "6.1.1", "6.2", true, "", false, false, "", ""},
		{"5 a floating 6.1 tag is not below 6.1.1", "6.1.2", "6.1", true, "", false, false, "", ""},
		{"13 5.3 to 5.9 rolls, with a full restart to come", "5.3.2", "5.9.1", false, "", false, true, RuleNeedsFullRestart, "restart the whole cluster once"},
		{"14 a path from 5.4-5.7 is not in EMQX's table", "5.6.1", "6.0.1", false, "", false, true, RuleUnlistedPath, "not in EMQX's supported"},
		{"9 back from routing schema v3", "6.1.2", "6.1.1", false, "", false, true, RuleRoutingSchemaDowngrade, "routing schema v3"},
		{"11 5.9.1 configs change meaning on 6.x", "5.9.1", "6.0.1", false, "", false, true, RuleListenerRate, "max_conn_rate"},
		{"12 5.8.7 headers and 5.10.0", "5.8.7", "5.10.0", false, "", false, true, RuleTelemetryHeaders, "5.10.1"},
		{"12 5.8.6 has no such headers", "5.8.6", "5.10.0", false, "", false, false, "", ""},
		{"15 crossing 6.1.1 with durable sessions", "6.1.0", "6.1.1", true, "", false, true, RuleDSLeaderChange, "shards pause"},
		{"3 an acceptance of the target release rolls with a warning", "5.10.1", "6.1.0", true, "6.1.0", false, true, RuleAccepted, "accepted by"},
		{"3 an acceptance of another release does not", "5.10.1", "6.1.0", true, "6.0.0", true, false, RuleDurableSessionsToV6, "accepts 6.0.0, not 6.1.0"},
		{"3 an acceptance that is not a release is an error", "5.10.1", "6.1.0", true, "yes", true, false, RuleInvalidAcceptance, `is "yes", not an EMQX release`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Decide(Change{From: v(c.from), To: v(c.to), DurableSessions: c.ds, Accepted: c.accepted})
			if got.Refused != c.refused || got.Warning != c.warning || got.Rule != c.rule {
				t.Fatalf("got %+v, want refused=%v warning=%v rule=%q", got, c.refused, c.warning, c.rule)
			}
			if !strings.Contains(got.Message, c.says) {
				t.Errorf("message %q does not say %q", got.Message, c.says)
			}
			if got.Refused && c.rule != RuleInvalidAcceptance && !strings.Contains(got.Message, AcceptAnnotation) {
				t.Errorf("a refusal does not say how to accept it: %q", got.Message)
			}
		})
	}
}

func TestOfImage(t *testing.T) {
	for image, want := range map[string]string{
		"emqx/emqx-enterprise:6.1.0":              "6.1.0",
		"registry.local:5000/emqx/emqx:5.10.1":    "5.10.1",
		"emqx/emqx:v5.8.6-alpine":                 "5.8.6",
		"emqx/emqx:6.2":                           "6.2.x",
		"emqx/emqx:latest":                        "unknown",
		"emqx/emqx@sha256:0123456789abcdef":       "unknown",
		"registry.local:5000/emqx/emqx":           "unknown",
		"emqx/emqx:6.1.0@sha256:0123456789abcdef": "6.1.0",
	} {
		if got := OfImage(image).String(); got != want {
			t.Errorf("OfImage(%q) = %s, want %s", image, got, want)
		}
	}
}
