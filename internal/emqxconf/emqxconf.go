// Package emqxconf knows which parts of EMQX's configuration can change at runtime and which need
// a restart, so a config change is applied through the API when it can and rolls pods only when
// it must.
package emqxconf

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/gurkankaymak/hocon"
)

// restartOnly are the configuration paths EMQX reads only at start-up: PUT /configs refuses the
// node, rpc and cluster roots (cluster.links excepted), and dashboard listener binds take effect
// on restart.
var restartOnly = []string{"node", "rpc", "cluster", "dashboard.listeners"}

// Revision identifies a config text (what status.appliedConfigRevision records).
func Revision(text string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(text)))
	return hex.EncodeToString(sum[:8])
}

// RestartChecksum hashes only the restart-only part of a config, canonically: it changes exactly
// when nodes must restart to see the new config.
func RestartChecksum(text string) (string, error) {
	conf, err := Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if conf != nil {
		for _, path := range restartOnly {
			v, err := Lookup(conf, path)
			if err != nil {
				return "", err
			}
			if path == "cluster" {
				if obj, ok := v.(hocon.Object); ok {
					trimmed := hocon.Object{}
					for k, sub := range obj {
						if k != "links" {
							trimmed[k] = sub
						}
					}
					v = trimmed
					if len(trimmed) == 0 {
						v = nil
					}
				}
			}
			if v != nil {
				b.WriteString(path + "=")
				canonical(&b, v)
				b.WriteString("\n")
			}
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8]), nil
}

func canonical(b *strings.Builder, v hocon.Value) {
	switch x := v.(type) {
	case hocon.Object:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{")
		for _, k := range keys {
			b.WriteString(k + ":")
			canonical(b, x[k])
			b.WriteString(",")
		}
		b.WriteString("}")
	case hocon.Array:
		b.WriteString("[")
		for _, e := range x {
			canonical(b, e)
			b.WriteString(",")
		}
		b.WriteString("]")
	default:
		// The Go parser reads an apostrophe in an unquoted value (it's) as the start of a Go
		// character literal and keeps the line's end in the value: `x = it's` at the end of the
		// text and the same line followed by more text would hash differently, and roll every
		// pod for nothing (found by FuzzConfigData, input `cluster.0=A'0`). HOCON values hold
		// no raw line end, so trailing ones are dropped.
		fmt.Fprintf(b, "%q", strings.TrimRight(strings.Trim(fmt.Sprint(v), `"`), "\r\n"))
	}
}

// Parse parses HOCON text (nil for empty text), turning the parser's panics on some malformed
// input into errors.
func Parse(text string) (conf *hocon.Config, err error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	if err := everythingClosed(text); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return hocon.ParseString(text)
}

// isInclude: an include directive starts at i: the word include where a key may start, then
// blanks and a quoted name or required(, file(, url( or classpath(.
func isInclude(text string, i int) bool {
	if !strings.HasPrefix(text[i:], "include") {
		return false
	}
	if i > 0 && !strings.ContainsRune(" \t\n\r{,", rune(text[i-1])) {
		return false
	}
	rest := text[i+len("include"):]
	after := strings.TrimLeft(rest, " \t")
	if len(after) == len(rest) {
		return false
	}
	for _, p := range []string{`"`, "required(", "file(", "url(", "classpath("} {
		if strings.HasPrefix(after, p) {
			return true
		}
	}
	return false
}

// everythingClosed refuses text whose quoted strings, objects, arrays or substitutions are left open.
// EMQX's HOCON parser refuses such text (the node would not start), and the Go parser mishandles
// it: a quoted string cut off by a line end swallows what follows (`a = "x` + newline + `y = 2`
// sets a to "x\n" and drops y; found by FuzzConfigData, input `node="`), and an array or a
// substitution open at the end makes it loop for ever (inputs `a = [1, pc ` and `e.e=${?E`), which
// would hang a reconcile worker. Comments and triple-quoted strings, which may span lines, are
// skipped; HOCON allows no bracket or brace in an unquoted string, so counting them is exact.
func everythingClosed(text string) error {
	_, err := scan(text)
	return err
}

// scan is everythingClosed's walk over the text; it also reports whether the text holds a
// substitution ${...} outside quoted strings and comments.
func scan(text string) (substitutions bool, err error) {
	line := 1
	type open struct {
		closer byte
		line   int
	}
	var stack []open
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\n':
			line++
		case c == '#' || strings.HasPrefix(text[i:], "//"):
			for i+1 < len(text) && text[i+1] != '\n' {
				i++
			}
		case strings.HasPrefix(text[i:], `"""`):
			end := strings.Index(text[i+3:], `"""`)
			if end < 0 {
				return substitutions, fmt.Errorf("line %d: a triple-quoted string is not closed", line)
			}
			line += strings.Count(text[i:i+3+end], "\n")
			i += 3 + end + 2
			// HOCON lets extra quotes before the closing three belong to the string.
			for i+1 < len(text) && text[i+1] == '"' {
				i++
			}
		case c == 'i' && isInclude(text, i):
			// The Go parser would read the included file from the operator's own filesystem (and
			// quote it in errors that reach the status); the nodes would read theirs.
			return substitutions, fmt.Errorf("line %d: include is not supported in spec.config.data: put the settings in config.data itself", line)
		case c == '`':
			// The Go scanner reads a backquote as the start of a raw string that may swallow the
			// lines after it; HOCON has no such string.
			return substitutions, fmt.Errorf("line %d: a backquote (`) is not valid in HOCON outside a quoted string", line)
		case c == '"':
			for i++; ; i++ {
				if i >= len(text) || text[i] == '\n' {
					return substitutions, fmt.Errorf("line %d: a quoted string is not closed on its line", line)
				}
				if text[i] == '\\' && i+1 < len(text) && text[i+1] != '\n' {
					i++
					continue
				}
				if text[i] == '"' {
					break
				}
			}
		case c == '{' || c == '[':
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if c == '{' && i > 0 && text[i-1] == '$' {
				closer = ')' // a substitution: marked apart, closed by '}' on its line
				substitutions = true
			}
			stack = append(stack, open{closer, line})
		case c == '}' || c == ']':
			if len(stack) == 0 {
				return substitutions, fmt.Errorf("line %d: %q closes nothing", line, c)
			}
			top := stack[len(stack)-1]
			if want := top.closer; want != c && (want != ')' || c != '}') {
				return substitutions, fmt.Errorf("line %d: %q closes what line %d opened with %q", line, c, top.line, map[byte]string{'}': "{", ']': "[", ')': "${"}[want])
			}
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].closer == ')' && i < len(text) && text[i] == '\n' {
			return substitutions, fmt.Errorf("line %d: a substitution ${...} is not closed on its line", stack[len(stack)-1].line)
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		what := map[byte]string{'}': "an object {", ']': "an array [", ')': "a substitution ${"}[top.closer]
		return substitutions, fmt.Errorf("line %d: %s is not closed", top.line, what)
	}
	return substitutions, nil
}

// Scalar is the plain value at path, unquoted ("" and false when path is unset or holds an object
// or an array). The parser's String() of an object panics when the object holds an unresolved
// optional substitution (`a { b = ${?UNSET} }`), so objects and arrays are never printed here;
// found by FuzzConfigData (seed `node.name = ${?HOSTNAME}` looked up as node).
func Scalar(conf *hocon.Config, path string) (string, bool, error) {
	v, err := Lookup(conf, path)
	if err != nil || v == nil {
		return "", false, err
	}
	switch v.(type) {
	case hocon.Object, hocon.Array:
		return "", false, nil
	}
	return strings.Trim(v.String(), `"`), true, nil
}

// Lookup is conf.Get(path), with a prefix of path that holds a plain value (`node = "x"` and then
// node.name) reported as an error naming the path: EMQX refuses such a config, while the parser
// either panics (before v1.3) or finds nothing there (since).
func Lookup(conf *hocon.Config, path string) (v hocon.Value, err error) {
	if conf == nil {
		return nil, nil
	}
	notAnObject := fmt.Errorf("%s: a part of this path is set to a plain value, not an object", path)
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, notAnObject
		}
	}()
	parts := strings.Split(path, ".")
	for i := 1; i < len(parts); i++ {
		switch prefix := conf.Get(strings.Join(parts[:i], ".")); prefix.(type) {
		case nil, hocon.Object:
		default:
			return nil, notAnObject
		}
	}
	return conf.Get(path), nil
}
