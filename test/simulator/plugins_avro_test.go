package simulator

import (
	"strings"
	"testing"
)

// The Avro subset the plugin config check uses (plugins_avro.go).

const avroTestSchema = `{"type": "record", "name": "conf", "namespace": "test", "fields": [
  {"name": "name", "type": "string"},
  {"name": "count", "type": "int", "default": 1},
  {"name": "big", "type": "long", "default": 0},
  {"name": "ratio", "type": {"type": "double"}, "default": 0.5},
  {"name": "on", "type": "boolean", "default": false},
  {"name": "opt", "type": ["null", "string"], "default": null},
  {"name": "level", "type": {"type": "enum", "name": "level", "symbols": ["low", "high"]}, "default": "low"},
  {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
  {"name": "limits", "type": {"type": "map", "values": "int"}, "default": {}},
  {"name": "peer", "type": ["null", {"type": "record", "name": "peer", "fields": [
    {"name": "host", "type": "string"}, {"name": "port", "type": "int", "default": 80}]}], "default": null},
  {"name": "backup", "type": ["null", "test.peer"], "default": null}
]}`

func TestAvroConfigCheck(t *testing.T) {
	schema, err := parseAvroSchema([]byte(avroTestSchema))
	if err != nil {
		t.Fatal(err)
	}
	for config, wantErr := range map[string]string{
		`{"name": "a"}`: "",
		`{"name": "a", "count": 2, "big": 9000000000, "ratio": 1, "on": true, "opt": "x", "level": "high",
		  "tags": ["t"], "limits": {"x": 1}, "peer": {"host": "h"}, "backup": {"host": "b", "port": 1}}`: "",
		`{"name": "a", "opt": null, "peer": null}`: "",
		`{}`:                                             `field "name": missing`,
		`{"name": 1}`:                                    `field "name": expected string`,
		`{"name": "a", "count": 1.5}`:                    `field "count": expected int`,
		`{"name": "a", "count": 9000000000}`:             `field "count": expected int`,
		`{"name": "a", "big": "1"}`:                      `field "big": expected long`,
		`{"name": "a", "on": "true"}`:                    `field "on": expected boolean`,
		`{"name": "a", "opt": 3}`:                        `field "opt": expected one of [null, string]`,
		`{"name": "a", "level": "mid"}`:                  `field "level": expected one of [low high]`,
		`{"name": "a", "tags": [1]}`:                     `field "tags[0]"`,
		`{"name": "a", "limits": {"x": "y"}}`:            `field "limits.x"`,
		`{"name": "a", "peer": {}}`:                      `field "peer"`,
		`{"name": "a", "other": 1}`:                      `field "other": unknown field`,
		`{"name": "a", "backup": {"host": "b", "x": 1}}`: `field "backup"`,
	} {
		conf, err := parseConfigJSON([]byte(config))
		if err != nil {
			t.Fatalf("%s: %v", config, err)
		}
		err = schema.check("", conf)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s refused: %v", config, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: error %v, want one containing %q", config, err, wantErr)
		}
	}
}

func TestAvroSchemaMustBeARecordOfKnownTypes(t *testing.T) {
	for _, bad := range []string{`{"type": "string"}`, `not json`, `{"type": "record", "name": "r", "fields": [{"name": "x", "type": "nosuchtype"}]}`} {
		if _, err := parseAvroSchema([]byte(bad)); err == nil {
			t.Errorf("schema %s accepted", bad)
		}
	}
	if _, err := parseConfigJSON([]byte(`[1]`)); err == nil {
		t.Error("a JSON array was taken for a config object")
	}
}
