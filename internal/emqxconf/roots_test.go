package emqxconf

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRootsAndBack(t *testing.T) {
	for _, tc := range []struct {
		text, want string // want: the roots as one JSON object
	}{
		{"", `{}`},
		{"log.console.level = warning\ndashboard.listeners.http.bind = 18083", `{"dashboard":{"listeners":{"http":{"bind":18083}}},"log":{"console":{"level":"warning"}}}`},
		{`node { name = "emqx@127.0.0.1", max_ports = 1048576 }`, `{"node":{"max_ports":1048576,"name":"emqx@127.0.0.1"}}`},
		{`authorization.sources = [{type = file, enable = true}]` + "\nmqtt.max_packet_size = 1MB\nx = 1.5\ny = null", `{"authorization":{"sources":[{"enable":true,"type":"file"}]},"mqtt":{"max_packet_size":"1MB"},"x":1.5,"y":null}`},
		{`a = "quote \" inside"`, `{"a":"quote \" inside"}`},
	} {
		roots, err := Roots(tc.text)
		if err != nil {
			t.Fatalf("Roots(%q): %v", tc.text, err)
		}
		got, _ := json.Marshal(roots)
		if string(got) != tc.want {
			t.Errorf("Roots(%q) = %s, want %s", tc.text, got, tc.want)
		}
		// Written back and read again, the roots are the same, and that text is their rendering.
		text, err := FromRoots(roots)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := IsRootsRendering(text); !ok {
			t.Errorf("FromRoots(%s) = %q is not read back as its own rendering", got, text)
		}
		again, err := Roots(text)
		if err != nil {
			t.Fatalf("Roots(FromRoots(%s)): %v", got, err)
		}
		if a, _ := json.Marshal(again); string(a) != tc.want {
			t.Errorf("after FromRoots: %s, want %s", a, tc.want)
		}
	}
}

func TestRootsRefusesWhatRootsCannotExpress(t *testing.T) {
	for _, text := range []string{"a = ${HOME}", `include "other.conf"`, "a = {"} {
		if _, err := Roots(text); err == nil {
			t.Errorf("Roots(%q): no error", text)
		}
	}
}

func TestFromRootsQuotesKeys(t *testing.T) {
	got, err := FromRoots(map[string]json.RawMessage{"log": json.RawMessage(`{"console":{"level":"debug"}}`), "a.b": json.RawMessage(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "\"a.b\" = 1\n\"log\" = {\"console\":{\"level\":\"debug\"}}\n"; got != want {
		t.Errorf("FromRoots = %q, want %q", got, want)
	}
	if !strings.Contains(got, `"log" = `) {
		t.Error("the vendor's format is \"<root>\" = <json>")
	}
}

// EMQX before 6.2.3 reads \u0026 literally: &, < and > are written as they are.
func TestFromRootsWritesNoHTMLEscapes(t *testing.T) {
	got, err := FromRoots(map[string]json.RawMessage{"rule": json.RawMessage(`{"sql":"SELECT * FROM \"t/#\" WHERE a \u003e 1 \u0026\u0026 b \u003c 2","n":2.0,"big":12345678901}`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"rule" = {"big":12345678901,"n":2,"sql":"SELECT * FROM \"t/#\" WHERE a > 1 && b < 2"}` + "\n"; got != want {
		t.Errorf("FromRoots = %s, want %s", got, want)
	}
	if _, ok := IsRootsRendering(got); !ok {
		t.Errorf("%q is not its roots' rendering", got)
	}
}

// Only text that is exactly its roots' rendering is shown as roots: comments, HOCON syntax and
// values the parser reads loosely stay text.
func TestIsRootsRendering(t *testing.T) {
	for text, want := range map[string]bool{
		"": true,
		"\"log\" = {\"console\":{\"level\":\"debug\"}}\n": true,
		"log.console.level = debug\n":                     false,
		"# a comment\n\"a\" = 1\n":                        false,
		"\"a\" = \"x\\\"\"\n":                             false, // a string ending in an escaped quote: the parser drops it
		"\"a\" = 100us\n":                                 false,
	} {
		if _, ok := IsRootsRendering(text); ok != want {
			t.Errorf("IsRootsRendering(%q) = %v, want %v", text, ok, want)
		}
	}
}
