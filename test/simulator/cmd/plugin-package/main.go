// Command plugin-package writes an EMQX plugin package for shell-driven tests (see package
// pluginpkg for the layout) and prints its sha256, the digest `emqx ctl plugins allow <name-vsn>
// sha256:<hex>` pins:
//
//	plugin-package -name foo -vsn 1.0 [-schema-file config.avsc] [-config-json '{"port":1}'] -o foo-1.0.tar.gz
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/broker-ops/emqx-operator/test/simulator/pluginpkg"
)

func main() {
	name := flag.String("name", "", "plugin name (letters first, then word characters)")
	vsn := flag.String("vsn", "", "plugin version")
	schemaFile := flag.String("schema-file", "", "Avro schema of the plugin's config (optional)")
	configJSON := flag.String("config-json", "", "default config, a JSON object (optional)")
	out := flag.String("o", "", "file to write (default <name>-<vsn>.tar.gz)")
	flag.Parse()
	if err := run(*name, *vsn, *schemaFile, *configJSON, *out); err != nil {
		fmt.Fprintln(os.Stderr, "plugin-package:", err)
		os.Exit(1)
	}
}

func run(name, vsn, schemaFile, configJSON, out string) error {
	spec := pluginpkg.Spec{Name: name, Vsn: vsn}
	if schemaFile != "" {
		schema, err := os.ReadFile(schemaFile)
		if err != nil {
			return err
		}
		spec.Schema = string(schema)
	}
	if configJSON != "" {
		if err := json.Unmarshal([]byte(configJSON), &spec.Config); err != nil || spec.Config == nil {
			return fmt.Errorf("-config-json must be a JSON object: %v", err)
		}
	}
	data, err := pluginpkg.Build(spec)
	if err != nil {
		return err
	}
	if out == "" {
		out = spec.FileName()
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("%x\n", sha256.Sum256(data))
	return nil
}
