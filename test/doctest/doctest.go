// Package doctest reads the fenced code blocks of the project's Markdown docs, so that what they
// tell a user to type is run by the test suite (test/e2e/docs). Every shell block carries a marker
// on the line before its fence:
//
//	<!-- doc-test: run -->            run on a fresh local cluster with the simulator, no CRDs, no operator
//	<!-- doc-test: run on demo -->    run on the cluster `make demo` brought up
//	<!-- doc-test: skip: REASON -->   not run; the reason says why (shown in the test's output)
//
// A block without a language is refused too: nobody can tell whether it is meant to be typed.
package doctest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Where a runnable block runs.
const (
	OnCluster = "cluster"
	OnDemo    = "demo"
)

// Block is one fenced code block.
type Block struct {
	File string
	// Line is the line of the opening fence (1-based).
	Line int
	Lang string
	Text string
	// Run is true for a runnable block; On says where it runs; SkipReason why a block is not run.
	Run        bool
	On         string
	SkipReason string
	// Marker is the marker's text, empty when the block has none.
	Marker string
}

// Shell tells a block a user types into a shell.
func (b Block) Shell() bool {
	switch b.Lang {
	case "sh", "bash", "shell", "console", "zsh":
		return true
	}
	return false
}

var markerRE = regexp.MustCompile(`^<!--\s*doc-test:\s*(.*?)\s*-->\s*$`)

// Parse reads the blocks of one Markdown file. It fails on a block without a language, on a
// marker it does not understand and on a marker that is not followed by a fence.
func Parse(file string, data []byte) ([]Block, error) {
	var blocks []Block
	var cur *Block
	var body strings.Builder
	marker, markerLine := "", 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				cur.Text = body.String()
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			body.WriteString(line + "\n")
			continue
		}
		if m := markerRE.FindStringSubmatch(line); m != nil {
			marker, markerLine = m[1], n
			continue
		}
		if strings.HasPrefix(line, "```") {
			lang := strings.Fields(strings.TrimPrefix(line, "```") + " ")
			if len(lang) == 0 {
				return nil, fmt.Errorf("%s:%d: a fenced block without a language: say sh, yaml, text, …", file, n)
			}
			b := Block{File: file, Line: n, Lang: lang[0]}
			if marker != "" && markerLine == n-1 {
				if err := b.mark(marker); err != nil {
					return nil, fmt.Errorf("%s:%d: %w", file, markerLine, err)
				}
			} else if marker != "" {
				return nil, fmt.Errorf("%s:%d: a doc-test marker must stand on the line right before a fence", file, markerLine)
			}
			marker = ""
			cur = &b
			body.Reset()
			continue
		}
		if marker != "" && strings.TrimSpace(line) != "" {
			return nil, fmt.Errorf("%s:%d: a doc-test marker must stand on the line right before a fence", file, markerLine)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: the fenced block is never closed", file, cur.Line)
	}
	return blocks, nil
}

func (b *Block) mark(m string) error {
	b.Marker = m
	switch {
	case m == "run":
		b.Run, b.On = true, OnCluster
	case m == "run on demo":
		b.Run, b.On = true, OnDemo
	case strings.HasPrefix(m, "skip:") && strings.TrimSpace(strings.TrimPrefix(m, "skip:")) != "":
		b.SkipReason = strings.TrimSpace(strings.TrimPrefix(m, "skip:"))
	default:
		return fmt.Errorf("doc-test marker %q: want run, run on demo, or skip: REASON", m)
	}
	if !b.Shell() {
		return fmt.Errorf("a doc-test marker on a %s block: only shell blocks are run", b.Lang)
	}
	return nil
}

// Unmarked lists the shell blocks without a marker, as file:line messages.
func Unmarked(blocks []Block) []string {
	var out []string
	for _, b := range blocks {
		if b.Shell() && b.Marker == "" {
			out = append(out, fmt.Sprintf("%s:%d: a %s block without a doc-test marker (run, run on demo, or skip: REASON)", b.File, b.Line, b.Lang))
		}
	}
	return out
}

// ParseFiles parses each file in order.
func ParseFiles(files ...string) ([]Block, error) {
	var all []Block
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		bs, err := Parse(f, data)
		if err != nil {
			return nil, err
		}
		all = append(all, bs...)
	}
	return all, nil
}

// DocFiles are the docs a user reads, in reading order: README.md, then docs/*.md by name.
func DocFiles(root string) []string {
	files := []string{filepath.Join(root, "README.md")}
	more, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	sort.Strings(more)
	return append(files, more...)
}
