package doctest

import (
	"fmt"
	"regexp"
	"strings"
)

// Background is a command of a block that never ends by itself (`make run`, `kubectl get -w`).
type Background struct {
	// N numbers it within the block: its output goes to $DOC_TEST_BG/N.log, its pid to N.pid.
	N       int
	Command string
	// Watch is a `kubectl get … -w`: the runner checks what it prints.
	Watch bool
}

var heredocRE = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// Script turns a block into the lines bash runs. A line that starts a never-ending command runs in
// the background, in a session of its own (so the runner can stop it and its children), with its
// output and pid in files under $DOC_TEST_BG; everything else runs as written.
func Script(b Block) (string, []Background) {
	var out strings.Builder
	var bg []Background
	heredocEnd := ""
	for _, line := range strings.Split(strings.TrimRight(b.Text, "\n"), "\n") {
		if heredocEnd != "" {
			out.WriteString(line + "\n")
			if strings.TrimSpace(line) == heredocEnd {
				heredocEnd = ""
			}
			continue
		}
		if m := heredocRE.FindStringSubmatch(line); m != nil {
			heredocEnd = m[1]
		}
		cmd := strings.TrimSpace(stripComment(line))
		watch := isWatch(cmd)
		if heredocEnd == "" && (watch || isMakeRun(cmd)) {
			n := len(bg) + 1
			bg = append(bg, Background{N: n, Command: cmd, Watch: watch})
			fmt.Fprintf(&out, "setsid %s >\"$DOC_TEST_BG/%d.log\" 2>&1 </dev/null & echo $! >\"$DOC_TEST_BG/%d.pid\"\n", cmd, n, n)
			continue
		}
		out.WriteString(line + "\n")
	}
	return out.String(), bg
}

func isMakeRun(cmd string) bool {
	f := strings.Fields(cmd)
	return len(f) >= 2 && f[0] == "make" && f[1] == "run"
}

func isWatch(cmd string) bool {
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "kubectl" || f[1] != "get" {
		return false
	}
	for _, a := range f[2:] {
		if a == "-w" || a == "--watch" || a == "--watch=true" {
			return true
		}
	}
	return false
}

// stripComment removes a shell comment: a # at the start of a word, outside quotes.
func stripComment(line string) string {
	var quote rune
	prev := ' '
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t'):
			return line[:i]
		}
		prev = r
	}
	return line
}
