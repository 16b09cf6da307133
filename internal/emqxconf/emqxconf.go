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
		fmt.Fprintf(b, "%q", strings.Trim(fmt.Sprint(v), `"`))
	}
}

// Parse parses HOCON text (nil for empty text), turning the parser's panics on some malformed
// input into errors.
func Parse(text string) (conf *hocon.Config, err error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return hocon.ParseString(text)
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

// Lookup is conf.Get(path) without the parser's panic when a prefix of path holds a plain value
// (`node = "x"` and then node.name): that is reported as an error naming the path.
func Lookup(conf *hocon.Config, path string) (v hocon.Value, err error) {
	if conf == nil {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%s: a part of this path is set to a plain value, not an object", path)
		}
	}()
	return conf.Get(path), nil
}
