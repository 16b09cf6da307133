// Package docs runs what README.md and docs/*.md tell a user to type, with the real kubectl,
// helm, kustomize, make and manager, and `make demo` exactly as a new user meets it: its "Try
// next" lines, the doc blocks meant for the demo, kubectl's names for every kind, then
// `make demo-down`, with nothing left behind. Markers on the blocks say what runs where
// (package test/doctest); blocks that cannot run here say why.
package docs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/doctest"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

var (
	repoRoot string
	// toolsBin holds the pinned kubectl, helm and kustomize; toolsPATH puts them first, as a
	// user's PATH would have them.
	toolsBin, toolsPATH string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Join(dir, "..", "..", "..")
	if repoRoot, err = filepath.Abs(repoRoot); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin, err := os.MkdirTemp("", "doc-tools-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	for _, tool := range []string{"kubectl", "helm", "kustomize"} {
		out, err := exec.Command(filepath.Join(repoRoot, "hack", "tools.sh"), "path", tool).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "the pinned %s: %v\n", tool, err)
			return 1
		}
		if err := os.Symlink(strings.TrimSpace(string(out)), filepath.Join(bin, tool)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	toolsBin, toolsPATH = bin, bin+":"+os.Getenv("PATH")
	start := time.Now()
	code := m.Run()
	fmt.Fprintf(os.Stderr, "docs suite took %s\n", time.Since(start).Round(time.Second))
	return code
}

// userEnv is a user's shell environment with the given additions: the pinned tools on PATH, no
// KUBECONFIG or WORK_DIR of the developer's.
func userEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "WORK_DIR=") || strings.HasPrefix(kv, "PATH=") ||
			strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MAKELEVEL=") || strings.HasPrefix(kv, "MFLAGS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "PATH="+toolsPATH), extra...)
}

func docBlocks(t *testing.T) []doctest.Block {
	t.Helper()
	blocks, err := doctest.ParseFiles(doctest.DocFiles(repoRoot)...)
	if err != nil {
		t.Fatal(err)
	}
	if un := doctest.Unmarked(blocks); len(un) > 0 {
		t.Fatalf("shell blocks without a doc-test marker:\n%s", strings.Join(un, "\n"))
	}
	return blocks
}

// TestDocs runs every block marked `run`, file by file, in reading order. Each file gets a fresh
// local cluster with the EMQX simulator and nothing else (no CRDs, no operator), as a user's
// empty cluster; its blocks run in one session against it.
func TestDocs(t *testing.T) {
	byFile := map[string][]doctest.Block{}
	var files []string
	runnable, skipped := 0, 0
	for _, b := range docBlocks(t) {
		switch {
		case b.Run && b.On == doctest.OnCluster:
			if byFile[b.File] == nil {
				files = append(files, b.File)
			}
			byFile[b.File] = append(byFile[b.File], b)
			runnable++
		case b.Run:
			runnable++ // run by TestDemo
		case b.SkipReason != "":
			skipped++
		}
	}
	t.Logf("doc shell blocks: %d runnable, %d not runnable", runnable, skipped)
	for _, f := range files {
		t.Run(rel(f), func(t *testing.T) {
			// A cluster name of its own per file: client-go caches TLS transports by the CA file's
			// path, so a second cluster under the same name (same path, new CA) would be refused.
			name := "e2e-docs-" + strings.ToLower(strings.TrimSuffix(filepath.Base(f), ".md"))
			env, err := harness.Start(harness.Config{ClusterName: name, NoOperator: true, NoCRDs: true})
			if env != nil {
				t.Cleanup(env.Stop)
			}
			if err != nil {
				t.Fatal(err)
			}
			s := newSession(t, userEnv("KUBECONFIG="+env.Kubeconfig))
			ops := newOperators(t, env)
			for _, b := range byFile[f] {
				s.run(b, 5*time.Minute)
				s.checkBackground(4 * time.Minute)
				ops.sync(fmt.Sprintf("%s:%d", rel(b.File), b.Line))
			}
			s.close()
			ops.stopAll()
		})
	}
}
