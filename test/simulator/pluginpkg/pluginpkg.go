// Package pluginpkg builds EMQX plugin packages for tests: the gzip'd tar that
// POST /api/v5/plugins/install takes, laid out as EMQX's plugin template makes them
// (shared/reference/emqx6-behaviour.md §5):
//
//	<name>-<vsn>/release.json
//	<name>-<vsn>/<name>-<vsn>/priv/config_schema.avsc   (when the plugin has a schema)
//	<name>-<vsn>/<name>-<vsn>/priv/config.hocon         (when it has a default config)
//
// The simulator reads release.json and finds the other two files by their base names.
package pluginpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"time"
)

// Spec describes one package.
type Spec struct {
	// Name and Vsn make the package's name-vsn (its directory and file name <name>-<vsn>.tar.gz).
	Name, Vsn string
	// Schema is the Avro schema of the plugin's config (JSON text); empty: no schema.
	Schema string
	// Config is the plugin's default config; nil: none. It is written as JSON, which is HOCON.
	Config map[string]any
	// ReleaseName and ReleaseVsn override what release.json says (default Name and Vsn), to make
	// a package whose metadata does not match its name.
	ReleaseName, ReleaseVsn string
}

// NameVsn is the package's name-vsn, as the plugin API's paths take it.
func (s Spec) NameVsn() string { return s.Name + "-" + s.Vsn }

// FileName is the name EMQX expects the upload to carry.
func (s Spec) FileName() string { return s.NameVsn() + ".tar.gz" }

// Build returns the package as a gzip'd tar.
func Build(s Spec) ([]byte, error) {
	if s.Name == "" || s.Vsn == "" {
		return nil, fmt.Errorf("a plugin package needs a name and a version")
	}
	relName, relVsn := s.Name, s.Vsn
	if s.ReleaseName != "" {
		relName = s.ReleaseName
	}
	if s.ReleaseVsn != "" {
		relVsn = s.ReleaseVsn
	}
	nv := s.NameVsn()
	release, err := json.MarshalIndent(map[string]any{
		"name": relName, "rel_vsn": relVsn, "rel_apps": []string{nv},
		"description": fmt.Sprintf("Test plugin %s, version %s", relName, relVsn),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []file{{nv + "/release.json", release}}
	priv := nv + "/" + nv + "/priv/"
	if s.Schema != "" {
		files = append(files, file{priv + "config_schema.avsc", []byte(s.Schema)})
	}
	if s.Config != nil {
		conf, err := json.MarshalIndent(s.Config, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		files = append(files, file{priv + "config.hocon", conf})
	}
	return tarGzip(files)
}

type file struct {
	path string
	data []byte
}

// tarGzip writes the files in order, each with a fixed time, so one Spec always gives the same
// bytes (and the same sha256 for `emqx ctl plugins allow … sha256:<hex>`).
func tarGzip(files []file) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	modTime := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		hdr := &tar.Header{Name: f.path, Mode: 0o644, Size: int64(len(f.data)), ModTime: modTime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
