package doctest

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []Block
		err       string
	}{
		{name: "a runnable block", doc: "<!-- doc-test: run -->\n```sh\nmake install\n```\n",
			want: []Block{{File: "f.md", Line: 2, Lang: "sh", Text: "make install\n", Run: true, On: OnCluster, Marker: "run"}}},
		{name: "on the demo", doc: "<!-- doc-test: run on demo -->\n```bash\nkubectl get emqx\n```\n",
			want: []Block{{File: "f.md", Line: 2, Lang: "bash", Text: "kubectl get emqx\n", Run: true, On: OnDemo, Marker: "run on demo"}}},
		{name: "skipped with a reason", doc: "<!-- doc-test: skip: needs a Docker engine -->\n```sh\nmake docker-build\n```\n",
			want: []Block{{File: "f.md", Line: 2, Lang: "sh", Text: "make docker-build\n", SkipReason: "needs a Docker engine", Marker: "skip: needs a Docker engine"}}},
		{name: "a yaml block needs no marker", doc: "```yaml\na: 1\n```\n",
			want: []Block{{File: "f.md", Line: 1, Lang: "yaml", Text: "a: 1\n"}}},
		{name: "a block without a language", doc: "text\n```\nls\n```\n", err: "f.md:2: a fenced block without a language"},
		{name: "a skip without a reason", doc: "<!-- doc-test: skip: -->\n```sh\nls\n```\n", err: `doc-test marker "skip:"`},
		{name: "an unknown marker", doc: "<!-- doc-test: maybe -->\n```sh\nls\n```\n", err: `doc-test marker "maybe"`},
		{name: "a marker away from its fence", doc: "<!-- doc-test: run -->\nsome text\n```sh\nls\n```\n", err: "must stand on the line right before a fence"},
		{name: "a marker on a yaml block", doc: "<!-- doc-test: run -->\n```yaml\na: 1\n```\n", err: "only shell blocks are run"},
		{name: "an unclosed block", doc: "```sh\nls\n", err: "never closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("f.md", []byte(tc.doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestUnmarked(t *testing.T) {
	blocks, err := Parse("f.md", []byte("```sh\nls\n```\n\n```yaml\na: 1\n```\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"f.md:1: a sh block without a doc-test marker (run, run on demo, or skip: REASON)"}
	if got := Unmarked(blocks); !reflect.DeepEqual(got, want) {
		t.Errorf("Unmarked = %q, want %q", got, want)
	}
}

func TestScript(t *testing.T) {
	b := Block{Lang: "sh", Text: "make manifests\nmake run        # the operator\nkubectl get emqx -w\n" +
		"kubectl apply -f - <<'EOF'\nkubectl get emqx -w\nEOF\nkubectl get pods -o wide\necho '# not a comment' # a comment\n"}
	script, bg := Script(b)
	want := "make manifests\n" +
		"setsid make run >\"$DOC_TEST_BG/1.log\" 2>&1 </dev/null & echo $! >\"$DOC_TEST_BG/1.pid\"\n" +
		"setsid kubectl get emqx -w >\"$DOC_TEST_BG/2.log\" 2>&1 </dev/null & echo $! >\"$DOC_TEST_BG/2.pid\"\n" +
		"kubectl apply -f - <<'EOF'\nkubectl get emqx -w\nEOF\nkubectl get pods -o wide\necho '# not a comment' # a comment\n"
	if script != want {
		t.Errorf("script:\n%s\nwant:\n%s", script, want)
	}
	wantBg := []Background{{N: 1, Command: "make run"}, {N: 2, Command: "kubectl get emqx -w", Watch: true}}
	if !reflect.DeepEqual(bg, wantBg) {
		t.Errorf("background = %+v, want %+v", bg, wantBg)
	}
}

// TestEveryShellBlockIsMarked: every shell block of README.md and docs/*.md says whether the
// suite runs it, and every runnable block is run by test/e2e/docs. It prints the counts.
func TestEveryShellBlockIsMarked(t *testing.T) {
	files := DocFiles(filepath.Join("..", ".."))
	if len(files) < 5 {
		t.Fatalf("found %d docs", len(files))
	}
	blocks, err := ParseFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range Unmarked(blocks) {
		t.Error(m)
	}
	run, skip := 0, 0
	for _, b := range blocks {
		switch {
		case b.Run:
			run++
		case b.SkipReason != "":
			skip++
			t.Logf("not run: %s:%d: %s", b.File, b.Line, b.SkipReason)
		}
	}
	fmt.Printf("doc shell blocks: %d runnable, %d not runnable (reasons with -v)\n", run, skip)
	if run == 0 {
		t.Error("no runnable block: the docs test would test nothing")
	}
}
