package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// A plugin's config is checked against the Avro schema in its package (priv/config_schema.avsc)
// when it is set through PUT /plugins/{nv}/config (emqx6-behaviour.md §5). This is the subset of
// Avro such schemas use: a record of fields with primitive types ("null", "boolean", "int",
// "long", "float", "double", "string", "bytes"), nested records, enums, arrays, maps and unions
// such as ["null", T]. A config is refused when a field without a default is missing, a value has
// the wrong type, or the object carries a field the record does not declare.

// avroType is one parsed type.
type avroType struct {
	kind     string      // a primitive name, or record, enum, array, map, union
	name     string      // a record's or enum's name
	fields   []avroField // record
	symbols  []string    // enum
	items    *avroType   // array items, map values
	branches []*avroType // union
}

type avroField struct {
	name       string
	typ        *avroType
	hasDefault bool
}

var avroPrimitives = []string{"null", "boolean", "int", "long", "float", "double", "string", "bytes"}

// parseAvroSchema parses a config schema; its top level must be a record.
func parseAvroSchema(text []byte) (*avroType, error) {
	p := avroParser{named: map[string]*avroType{}}
	t, err := p.parse(json.RawMessage(text))
	if err != nil {
		return nil, err
	}
	if t.kind != "record" {
		return nil, fmt.Errorf("the config schema is a %s, not a record", t.kind)
	}
	return t, nil
}

// avroParser keeps the named types (records, enums) defined so far: later fields may refer to them
// by name.
type avroParser struct {
	named map[string]*avroType
}

func (p *avroParser) parse(raw json.RawMessage) (*avroType, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, fmt.Errorf("empty type")
	case raw[0] == '"':
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return nil, err
		}
		return p.byName(name)
	case raw[0] == '[':
		var members []json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, err
		}
		u := &avroType{kind: "union"}
		for _, m := range members {
			b, err := p.parse(m)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, b)
		}
		return u, nil
	case raw[0] == '{':
		return p.parseObject(raw)
	}
	return nil, fmt.Errorf("bad type %s", raw)
}

func (p *avroParser) byName(name string) (*avroType, error) {
	if slices.Contains(avroPrimitives, name) {
		return &avroType{kind: name}, nil
	}
	if t, ok := p.named[name]; ok {
		return t, nil
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 { // a full name with its namespace
		if t, ok := p.named[name[i+1:]]; ok {
			return t, nil
		}
	}
	return nil, fmt.Errorf("unknown type %q", name)
}

func (p *avroParser) parseObject(raw json.RawMessage) (*avroType, error) {
	var obj struct {
		Type   json.RawMessage `json:"type"`
		Name   string          `json:"name"`
		Fields []struct {
			Name    string          `json:"name"`
			Type    json.RawMessage `json:"type"`
			Default json.RawMessage `json:"default"`
		} `json:"fields"`
		Symbols []string        `json:"symbols"`
		Items   json.RawMessage `json:"items"`
		Values  json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	var kind string
	if json.Unmarshal(obj.Type, &kind) != nil {
		return p.parse(obj.Type) // {"type": [..]} or {"type": {..}}
	}
	switch kind {
	case "record":
		t := &avroType{kind: kind, name: obj.Name}
		p.named[obj.Name] = t // a record may refer to itself
		for _, f := range obj.Fields {
			ft, err := p.parse(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			t.fields = append(t.fields, avroField{name: f.Name, typ: ft, hasDefault: f.Default != nil})
		}
		return t, nil
	case "enum":
		t := &avroType{kind: kind, name: obj.Name, symbols: obj.Symbols}
		p.named[obj.Name] = t
		return t, nil
	case "array", "map":
		inner := obj.Items
		if kind == "map" {
			inner = obj.Values
		}
		it, err := p.parse(inner)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		return &avroType{kind: kind, items: it}, nil
	}
	return p.byName(kind) // a primitive, possibly with a logicalType
}

// parseConfigJSON decodes a config, keeping numbers exact (an int must not turn into a float).
func parseConfigJSON(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the config is not a JSON object")
	}
	return obj, nil
}

// check validates v (decoded by parseConfigJSON) against t; path names the field in the error.
func (t *avroType) check(path string, v any) error {
	wrong := func() error { return fmt.Errorf("field %q: expected %s, got %s", path, t.describe(), jsonKind(v)) }
	switch t.kind {
	case "null":
		if v != nil {
			return wrong()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return wrong()
		}
	case "string", "bytes":
		if _, ok := v.(string); !ok {
			return wrong()
		}
	case "int", "long":
		n, ok := v.(json.Number)
		if !ok {
			return wrong()
		}
		bits := map[string]int{"int": 32, "long": 64}[t.kind]
		if _, err := strconv.ParseInt(n.String(), 10, bits); err != nil {
			return wrong()
		}
	case "float", "double":
		if _, ok := v.(json.Number); !ok {
			return wrong()
		}
	case "enum":
		s, ok := v.(string)
		if !ok || !slices.Contains(t.symbols, s) {
			return fmt.Errorf("field %q: expected one of %v, got %v", path, t.symbols, v)
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			return wrong()
		}
		for i, e := range l {
			if err := t.items.check(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return wrong()
		}
		for k, e := range m {
			if err := t.items.check(join(path, k), e); err != nil {
				return err
			}
		}
	case "union":
		for _, b := range t.branches {
			if b.check(path, v) == nil {
				return nil
			}
		}
		return wrong()
	case "record":
		return t.checkRecord(path, v)
	}
	return nil
}

func (t *avroType) checkRecord(path string, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("field %q: expected a record, got %s", path, jsonKind(v))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.ContainsFunc(t.fields, func(f avroField) bool { return f.name == k }) {
			return fmt.Errorf("field %q: unknown field", join(path, k))
		}
	}
	for _, f := range t.fields {
		fv, present := m[f.name]
		if !present {
			if f.hasDefault {
				continue
			}
			return fmt.Errorf("field %q: missing, and it has no default", join(path, f.name))
		}
		if err := f.typ.check(join(path, f.name), fv); err != nil {
			return err
		}
	}
	return nil
}

func (t *avroType) describe() string {
	if t.kind != "union" {
		return t.kind
	}
	var names []string
	for _, b := range t.branches {
		names = append(names, b.describe())
	}
	return "one of [" + strings.Join(names, ", ") + "]"
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "the number " + x.String()
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
