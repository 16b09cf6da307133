package emqxconf

import (
	"strings"
	"testing"
)

func TestRestartChecksum(t *testing.T) {
	sum := func(s string) string {
		t.Helper()
		c, err := RestartChecksum(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := "log.console.level = info\nnode.process_limit = 2097152\n"
	cases := []struct {
		name, other string
		same        bool
	}{
		{"runtime key changed", "log.console.level = debug\nnode.process_limit = 2097152\n", true},
		{"runtime key added", base + "listeners.tcp.default.max_connections = 1024000\n", true},
		{"same keys, other layout", "node { process_limit = 2097152 }\nlog.console.level = info\n", true},
		{"cluster.links is runtime", base + "cluster.links = []\n", true},
		{"node key changed", "log.console.level = info\nnode.process_limit = 1048576\n", false},
		{"rpc key added", base + "rpc.port_discovery = manual\n", false},
		{"dashboard bind changed", base + "dashboard.listeners.http.bind = 18084\n", false},
		{"cluster key added", base + "cluster.autoclean = 5m\n", false},
	}
	for _, c := range cases {
		if got := sum(c.other) == sum(base); got != c.same {
			t.Errorf("%s: same checksum = %v, want %v", c.name, got, c.same)
		}
	}
	if sum("") != sum("  ") {
		t.Error("empty configs differ")
	}
}

func TestScalar(t *testing.T) {
	for _, tc := range []struct {
		text, path, want string
		found            bool
	}{
		{`license.key = "abc"`, "license.key", "abc", true},
		{`durable_storage.messages.replication_factor = 5`, "durable_storage.messages.replication_factor", "5", true},
		{`license.key = ${?UNSET}`, "license.key", "", false},
		// An object holding an unresolved optional substitution: printing it panicked in the parser.
		{`license.key { a = ${?UNSET} }`, "license.key", "", false},
		{`license.key = [1, 2]`, "license.key", "", false},
		{`log.console.level = info`, "license.key", "", false},
	} {
		conf, err := Parse(tc.text)
		if err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		got, found, err := Scalar(conf, tc.path)
		if err != nil || got != tc.want || found != tc.found {
			t.Errorf("Scalar(%q, %s) = %q, %v, %v; want %q, %v", tc.text, tc.path, got, found, err, tc.want, tc.found)
		}
	}
}

func TestParseRefusesWhatWouldRunOnTheOperatorsSide(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"include \"/etc/passwd\"\n", "include is not supported"},
		{"a { include required(file(\"/x\")) }", "include is not supported"},
		{"a = `raw`", "backquote"},
	} {
		if _, err := Parse(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
	for _, ok := range []string{"x = include me\n", `a = "include \"y\""`, "includes = 1\n", "# include \"x\"\n"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q) = %v, want it accepted", ok, err)
		}
	}
}
