package pluginpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"testing"
)

// untar returns the package's files by path.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[hdr.Name] = b
	}
}

func TestBuildLaysOutThePackageAsEMQXReadsIt(t *testing.T) {
	spec := Spec{Name: "foo", Vsn: "1.0.2", Schema: `{"type":"record","name":"c","fields":[]}`, Config: map[string]any{"port": 1}}
	data, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, data)
	want := []string{"foo-1.0.2/foo-1.0.2/priv/config.hocon", "foo-1.0.2/foo-1.0.2/priv/config_schema.avsc", "foo-1.0.2/release.json"}
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	var rel map[string]any
	if err := json.Unmarshal(files["foo-1.0.2/release.json"], &rel); err != nil {
		t.Fatal(err)
	}
	if rel["name"] != "foo" || rel["rel_vsn"] != "1.0.2" || rel["description"] == "" ||
		!slices.Equal(rel["rel_apps"].([]any), []any{"foo-1.0.2"}) {
		t.Errorf("release.json = %v", rel)
	}
	again, _ := Build(spec)
	if !bytes.Equal(data, again) {
		t.Error("the same spec gave different bytes: a sha256 grant could not be computed ahead")
	}
}

func TestBuildOverridesReleaseMetadataAndLeavesOptionalFilesOut(t *testing.T) {
	data, err := Build(Spec{Name: "foo", Vsn: "1.0", ReleaseName: "bar", ReleaseVsn: "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, data)
	if len(files) != 1 {
		t.Fatalf("files %v, want release.json only", slices.Collect(maps.Keys(files)))
	}
	var rel map[string]any
	_ = json.Unmarshal(files["foo-1.0/release.json"], &rel)
	if rel["name"] != "bar" || rel["rel_vsn"] != "2.0" {
		t.Errorf("release.json = %v, want the overrides", rel)
	}
	if _, err := Build(Spec{Name: "foo"}); err == nil {
		t.Error("a package without a version was built")
	}
}
