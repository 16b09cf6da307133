package docs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/doctest"
)

// session runs doc blocks one after the other the way a person types them into one terminal:
// variables exported and the directory changed by one block hold for the next. Commands that
// never end run in the background until the session closes.
type session struct {
	t     *testing.T
	dir   string   // state between blocks: the exported environment and the working directory
	env   []string // the environment every block starts from
	procs []*background
}

type background struct {
	doctest.Background
	pid  int
	log  string
	from string // file:line of its block
}

func newSession(t *testing.T, env []string) *session {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cwd"), []byte(repoRoot), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, dir: dir, env: env}
	t.Cleanup(s.close)
	return s
}

// run executes one block; it fails the test with the block's output when a command fails.
func (s *session) run(b doctest.Block, timeout time.Duration) string {
	s.t.Helper()
	where := fmt.Sprintf("%s:%d", rel(b.File), b.Line)
	script, bgs := doctest.Script(b)
	bgDir, err := os.MkdirTemp(s.dir, "bg-")
	if err != nil {
		s.t.Fatal(err)
	}
	state := filepath.Join(s.dir, "env")
	full := "set -euo pipefail\n" +
		"if [[ -f " + q(state) + " ]]; then source " + q(state) + "; fi\n" +
		"cd \"$(cat " + q(filepath.Join(s.dir, "cwd")) + ")\"\n" +
		"export DOC_TEST_BG=" + q(bgDir) + "\n" +
		script +
		"export -p | grep -v -e ' DOC_TEST_BG=' -e ' OLDPWD' -e ' PWD=' -e ' SHLVL=' >" + q(state) + "\n" +
		"pwd >" + q(filepath.Join(s.dir, "cwd")) + "\n"
	cmd := exec.Command("bash", "-c", full)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = fmt.Errorf("still running after %s", timeout)
		<-done
	}
	// The background commands it started are the session's to stop, also when it failed.
	for _, bg := range bgs {
		p := &background{Background: bg, log: filepath.Join(bgDir, fmt.Sprintf("%d.log", bg.N)), from: where}
		if b, rerr := os.ReadFile(filepath.Join(bgDir, fmt.Sprintf("%d.pid", bg.N))); rerr == nil {
			p.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if p.pid > 0 {
			s.procs = append(s.procs, p)
		}
	}
	s.t.Logf("%s (%s, %s):\n%s\n%s", where, b.Marker, time.Since(start).Round(time.Millisecond), indent(b.Text, "  $ "), indent(out.String(), "  | "))
	if err != nil {
		s.t.Fatalf("%s: the block failed: %v (its commands and output above)", where, err)
	}
	return out.String()
}

// checkBackground: every background command of the session is still running (an operator that
// crashed, a watch that failed, fail the doc), and every watch shows a Ready resource in time.
func (s *session) checkBackground(timeout time.Duration) {
	s.t.Helper()
	for _, p := range s.procs {
		if p.Watch {
			deadline := time.Now().Add(timeout)
			for {
				b, _ := os.ReadFile(p.log)
				if strings.Contains(string(b), "Ready") {
					break
				}
				if time.Now().After(deadline) {
					s.t.Fatalf("%s: `%s` showed no Ready resource in %s:\n%s", p.from, p.Command, timeout, b)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
		if syscall.Kill(p.pid, 0) != nil {
			b, _ := os.ReadFile(p.log)
			s.t.Fatalf("%s: `%s` should run until stopped, but it exited:\n%s", p.from, p.Command, tail(string(b), 20))
		}
	}
}

// close stops every background command with its children: SIGTERM to its session, then SIGKILL.
func (s *session) close() {
	for _, p := range s.procs {
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range s.procs {
		for syscall.Kill(-p.pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if syscall.Kill(-p.pid, 0) == nil {
			s.t.Errorf("%s: `%s` did not stop on SIGTERM within 15 s; killed", p.from, p.Command)
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		}
	}
	s.procs = nil
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func rel(path string) string {
	if r, err := filepath.Rel(repoRoot, path); err == nil {
		return r
	}
	return path
}
