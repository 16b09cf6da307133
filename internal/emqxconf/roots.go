package emqxconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gurkankaymak/hocon"
)

// Roots reads HOCON text as configuration roots, the form apps.emqx.io/v3beta1 writes
// configuration in: each top-level key with its value as JSON. Text that roots cannot express
// (substitutions, includes, text that does not parse) is an error; the caller keeps the text.
func Roots(text string) (map[string]json.RawMessage, error) {
	// Checked before parsing: the parser resolves a substitution from its own process's
	// environment, which is the operator's, not the node's.
	if subst, err := scan(text); err != nil {
		return nil, err
	} else if subst {
		return nil, fmt.Errorf("a substitution ${...} cannot be written as configuration roots")
	}
	conf, err := Parse(text)
	if err != nil {
		return nil, err
	}
	roots := map[string]json.RawMessage{}
	if conf == nil {
		return roots, nil
	}
	top, ok := conf.GetRoot().(hocon.Object)
	if !ok {
		return nil, fmt.Errorf("the configuration is not an object of roots")
	}
	for key, v := range top {
		plain, err := toJSON(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		raw, err := plainJSON(plain)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		roots[key] = json.RawMessage(raw)
	}
	return roots, nil
}

// FromRoots writes roots as HOCON: one root per line, in key order, as `"<root>" = <JSON>` (JSON
// is valid HOCON, and a quoted key is never read as a path). Values are written without the
// \u0026-style escapes of &, < and > that JSON encoders add: EMQX's HOCON parser decodes \uXXXX
// only since EMQX 6.2.3, and would read the six characters literally before that. Numbers are
// written as Roots reads them back (integers exactly, 2.0 as 2), so the text stays the roots' own
// rendering.
func FromRoots(roots map[string]json.RawMessage) (string, error) {
	keys := make([]string, 0, len(roots))
	for k := range roots {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		key, err := plainJSON(k)
		if err != nil {
			return "", err
		}
		dec := json.NewDecoder(bytes.NewReader(roots[k]))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return "", fmt.Errorf("config root %s: %w", k, err)
		}
		value, err := plainJSON(numbersAsRead(v))
		if err != nil {
			return "", fmt.Errorf("config root %s: %w", k, err)
		}
		fmt.Fprintf(&b, "%s = %s\n", key, value)
	}
	return b.String(), nil
}

// IsRootsRendering reports whether text is exactly FromRoots of the roots it holds, and those
// roots: only then do the roots show the text faithfully (anything else — comments, HOCON syntax,
// values the parser reads loosely — is kept as text, never rewritten from roots).
func IsRootsRendering(text string) (map[string]json.RawMessage, bool) {
	roots, err := Roots(text)
	if err != nil {
		return nil, false
	}
	again, err := FromRoots(roots)
	return roots, err == nil && again == text
}

// numbersAsRead turns the decoder's numbers into int64 when they are integers, float64 otherwise.
func numbersAsRead(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64() // a json.Number from the decoder is always a valid float
		return f
	case map[string]any:
		for k, sub := range v {
			v[k] = numbersAsRead(sub)
		}
	case []any:
		for i, sub := range v {
			v[i] = numbersAsRead(sub)
		}
	}
	return v
}

// plainJSON encodes v without HTML escapes and without the encoder's trailing newline.
func plainJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func toJSON(v hocon.Value) (any, error) {
	switch v := v.(type) {
	case hocon.Object:
		out := make(map[string]any, len(v))
		for k, sub := range v {
			plain, err := toJSON(sub)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = plain
		}
		return out, nil
	case hocon.Array:
		out := make([]any, len(v))
		for i, sub := range v {
			plain, err := toJSON(sub)
			if err != nil {
				return nil, err
			}
			out[i] = plain
		}
		return out, nil
	case hocon.String:
		// The parser keeps a quoted string's escapes; HOCON's are JSON's, and an unquoted string
		// cannot hold a backslash.
		s := string(v)
		if strings.Contains(s, `\`) {
			var unquoted string
			if err := json.Unmarshal([]byte(`"`+s+`"`), &unquoted); err == nil {
				return unquoted, nil
			}
		}
		return s, nil
	case hocon.Int:
		return int64(v), nil
	case hocon.Float32:
		return float64(v), nil
	case hocon.Float64:
		return float64(v), nil
	case hocon.Boolean:
		return bool(v), nil
	case hocon.Null:
		return nil, nil
	case hocon.Duration:
		return v.String(), nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("%q cannot be written as a JSON value (a substitution or a concatenation)", v.String())
}
