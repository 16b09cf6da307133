package docs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/test/doctest"
)

// TestDemo runs `make demo` as a new user does: then each "Try next" line it prints, the doc
// blocks meant for the demo (a backup and a restore), kubectl's names for every kind, and
// `make demo-down`, which must leave no process, listener or mount behind. It uses a work dir
// (and, outside a network namespace, pod addresses) of its own, so a demo the developer has
// running is never touched.
func TestDemo(t *testing.T) {
	work := filepath.Join(repoRoot, ".work", "e2e-demo")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	env := userEnv("WORK_DIR="+work, "LOOPBACK_POD_NET=127.12")
	if os.Getenv("E2E_NET_MODE") == "netns" {
		// The test's network namespace has no default route for kube-apiserver to pick the address
		// it advertises from (a user's machine has one); hack/in-netns.sh made this one local.
		env = append(env, "APISERVER_ADVERTISE_ADDRESS=10.20.255.254")
	}
	var downOnce sync.Once
	down := func() {
		downOnce.Do(func() {
			out, err := makeTarget(env, "demo-down")
			if err != nil {
				t.Errorf("make demo-down: %v\n%s", err, out)
			}
		})
	}
	// Whatever fails from here on, the demo does not outlive the test.
	t.Cleanup(down)

	start := time.Now()
	out, err := makeTarget(env, "demo")
	t.Logf("make demo (%s):\n%s", time.Since(start).Round(time.Second), indent(out, "  | "))
	if err != nil {
		t.Fatalf("make demo failed: %v", err)
	}
	if !regexp.MustCompile(`(?m)^==> Ready: the EMQX cluster took \d+ s from apply to Ready`).MatchString(out) {
		t.Fatalf("make demo did not say the cluster is Ready")
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(work, "demo", "logs", "operator.log")); err == nil {
				t.Logf("operator log (last lines):\n%s", tail(string(b), 40))
			}
		}
	})

	s := newSession(t, env)
	tryNext := tryNextLines(out)
	if len(tryNext) < 4 {
		t.Fatalf("make demo printed %d \"Try next\" lines, want the commands a user tries:\n%s", len(tryNext), out)
	}
	s.run(doctest.Block{File: "make demo (Try next)", Lang: "sh", Marker: "printed by make demo", Text: strings.Join(tryNext, "\n") + "\n"}, 3*time.Minute)
	s.checkBackground(2 * time.Minute)

	// The demo runs Job pods only as root (mount namespaces); elsewhere backups stay Running, as
	// docs/backup.md says, and the blocks that take one are not run.
	jobs := os.Geteuid() == 0
	for _, b := range docBlocks(t) {
		if b.Run && b.On == doctest.OnDemo {
			if !jobs {
				t.Logf("%s:%d not run: the demo runs Job pods only as root", rel(b.File), b.Line)
				continue
			}
			s.run(b, 5*time.Minute)
		}
	}

	// kubectl's names, by the short name, the full name and the category, as docs and users type them.
	ns := "-n=emqx-demo"
	// The "Try next" lines scaled the replicants to 4: 3 cores + 4 replicants.
	showsTheBackup := map[string]bool{"emqxbackup": true, "emqxrestore": true, "emqx-all": true}
	for _, c := range []struct {
		args  []string
		wants []string // regexps the output must match
	}{
		{[]string{"get", "emqx", ns}, []string{`(?m)^NAME\s+STATUS\s+READY NODES\s+IMAGE\s+AGE\nemqx\s+Ready\s+7/7\s`}},
		{[]string{"get", "emqx", "emqx", ns}, []string{`(?m)^emqx\s+Ready\s+7/7\s`}},
		{[]string{"get", "emqxes.apps.emqx.io", "emqx", ns, "-o", "jsonpath={.status.readyNodes}"}, []string{`^7/7$`}},
		{[]string{"get", "emqx", "emqx", ns, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"}, []string{`^True$`}},
		{[]string{"describe", "emqx", "emqx", ns}, []string{`(?m)^Kind:\s+EMQX$`}},
		{[]string{"wait", "--for=condition=Ready", "emqx/emqx", ns, "--timeout=60s"}, []string{`emqx.apps.emqx.io/emqx condition met`}},
		{[]string{"get", "emqx-ee", ns}, []string{`No resources found`}},
		{[]string{"get", "emqx-broker", ns}, []string{`No resources found`}},
		{[]string{"get", "emqxbackup", "emqx-backup-1", ns}, []string{`(?m)^emqx-backup-1\s+emqx\s+Succeeded\s`}},
		{[]string{"get", "emqxrestore", "emqx-restore-1", ns}, []string{`(?m)^emqx-restore-1\s+emqx\s+Succeeded\s`}},
		{[]string{"get", "emqxbs", ns}, []string{`No resources found`}},
		{[]string{"get", "emqxplugin", ns}, []string{`No resources found`}},
		{[]string{"get", "emqx-all", ns}, []string{`(?m)^emqx\.apps\.emqx\.io/emqx\s+Ready\s+7/7\s`,
			`(?m)^emqxbackup\.apps\.emqx\.io/emqx-backup-1\s+emqx\s+Succeeded\s`, `(?m)^emqxrestore\.apps\.emqx\.io/emqx-restore-1\s+emqx\s+Succeeded\s`}},
	} {
		if !jobs && showsTheBackup[c.args[1]] {
			continue
		}
		cmd := exec.Command(filepath.Join(toolsBin, "kubectl"), c.args...)
		cmd.Env = append(env, "KUBECONFIG="+filepath.Join(work, "clusters", "emqx-dev", "kubeconfig"))
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(c.args, " "), err, b)
			continue
		}
		for _, want := range c.wants {
			if !regexp.MustCompile(want).Match(bytes.TrimSpace(b)) {
				t.Errorf("kubectl %s printed:\n%s\nwant a match of %s", strings.Join(c.args, " "), b, want)
			}
		}
	}

	apiPort := apiServerPort(t, filepath.Join(work, "clusters", "emqx-dev", "kubeconfig"))
	s.close()
	down()
	if left := leftovers(work, apiPort); left != "" {
		t.Errorf("make demo-down left things behind:\n%s", left)
	}
}

// makeTarget runs `make TARGET` in the checkout as a user would, with the output a user sees.
func makeTarget(env []string, target string) (string, error) {
	cmd := exec.Command("make", target)
	cmd.Dir = repoRoot
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// tryNextLines are the commands after "Try next:" in the demo's output, as typed (comments too).
func tryNextLines(out string) []string {
	var lines []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Try next:"):
			in = true
		case in && strings.HasPrefix(line, "  "):
			lines = append(lines, strings.TrimSpace(line))
		case in:
			return lines
		}
	}
	return lines
}

// apiServerPort is the port of the demo cluster's API server, from its kubeconfig.
func apiServerPort(t *testing.T, kubeconfig string) string {
	t.Helper()
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`server: https?://127\.0\.0\.1:(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no API server address on 127.0.0.1 in %s", kubeconfig)
	}
	return string(m[1])
}

// leftovers names what is still there of a demo in work: processes whose command line or
// working directory is in it, mounts under it, listeners on the demo's pod addresses (127.12.x.y)
// or its API server's port, and the demo's directory itself.
func leftovers(work, apiPort string) string {
	var b strings.Builder
	if out, err := exec.Command("ss", "-ltnH").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 4 && (strings.HasPrefix(f[3], "127.12.") || strings.HasSuffix(f[3], ":"+apiPort)) {
				fmt.Fprintf(&b, "listener: %s\n", l)
			}
		}
	} else {
		fmt.Fprintf(&b, "ss -ltnH: %v\n", err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		line := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(line, work) || strings.HasPrefix(cwd, work) {
			fmt.Fprintf(&b, "process %s: %s\n", filepath.Base(p), line)
		}
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, m := range strings.Split(string(mounts), "\n") {
			if strings.Contains(m, work) {
				fmt.Fprintf(&b, "mount: %s\n", m)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(work, "demo")); err == nil {
		fmt.Fprintf(&b, "directory %s\n", filepath.Join(work, "demo"))
	}
	return b.String()
}
