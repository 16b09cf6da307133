package simulator

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/broker-ops/emqx-operator/internal/backup"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// restoreWorld is two separate clusters: a (the source, 127.77.0.1) with some data, and b (a
// fresh cluster, 127.77.0.2) with an API key of its own.
func restoreWorld(t *testing.T, version string) (w *testWorld, a, b string) {
	w = newTestWorld(t)
	w.secret("keys-a", map[string]string{"bootstrap_api_key": "source-key:source-secret:administrator\n"})
	w.secret("cookie-b", map[string]string{"cookie": "other-cluster"})
	a = w.pod("a-0", 1, podOpts{version: version, keysSecret: "keys-a"})
	b = w.pod("b-0", 2, podOpts{version: version, cookieSecret: "cookie-b"})
	if err := w.sim.SetRecords(a, map[string]string{"retained/t/1": "hello", "authn/alice": "hash"}); err != nil {
		t.Fatal(err)
	}
	return w, a, b
}

// TestRestoreAgainstTheSimulator (§7): an archive taken from one cluster, imported into another,
// leaves the same data there; the uploaded copy is deleted; the operator's key still works.
func TestRestoreAgainstTheSimulator(t *testing.T) {
	w, a, b := restoreWorld(t, "5.8.6")
	ctx, dir := context.Background(), t.TempDir()
	src := []emqxapi.Endpoint{{Pod: "a-0", BaseURL: "http://127.77.0.1:18083"}}
	dst := []emqxapi.Endpoint{{Pod: "b-0", BaseURL: "http://127.77.0.2:18083"}}
	taken, err := backup.Take(ctx, emqxapi.DefaultFactory, emqxapi.Credentials{Key: "source-key", Secret: "source-secret"}, src, backup.DirStore{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	creds := emqxapi.Credentials{Key: testKey, Secret: testSecret}
	res, err := backup.Restore(ctx, emqxapi.DefaultFactory, creds, dst, backup.DirStore{Dir: dir}, taken.Filename, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != taken.SHA256 || res.Size != taken.Size || res.Warning != "" {
		t.Errorf("restored %+v, backup %+v", res, taken)
	}
	want, _ := w.sim.Data(a)
	got, _ := w.sim.Data(b)
	if !maps.Equal(got.Records, want.Records) || len(got.Records) != 2 {
		t.Errorf("records after import %v, exported %v", got.Records, want.Records)
	}
	if files := w.get(2, "/api/v5/data/files").json(t)["data"].([]any); len(files) != 0 {
		t.Errorf("the node still holds the uploaded archive: %v", files)
	}

	// An archive that no longer has its checksum is never imported.
	if err := w.sim.SetRecords(b, map[string]string{"kept": "yes"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, taken.Filename)
	raw, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(raw, ' '), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, emqxapi.DefaultFactory, creds, dst, backup.DirStore{Dir: dir}, taken.Filename, ""); !errors.Is(err, backup.ErrChecksumMismatch) {
		t.Errorf("a corrupted archive: %v", err)
	}
	if got, _ := w.sim.Data(b); !maps.Equal(got.Records, map[string]string{"kept": "yes"}) {
		t.Errorf("a corrupted archive changed the data: %v", got.Records)
	}
	if files := w.get(2, "/api/v5/data/files").json(t)["data"].([]any); len(files) != 0 {
		t.Errorf("the refused upload stayed on the node: %v", files)
	}
}

// TestRestoreOfForeignAPIKeysKeepsControl: an archive from an EMQX that still exports API keys
// (before e5.8.11) brings the source cluster's keys along. The import merges them in, and the
// destination's own key, named differently, keeps working. Newer EMQX refuses such an import
// from an API key; the restore says why.
func TestRestoreOfForeignAPIKeysKeepsControl(t *testing.T) {
	for _, tc := range []struct{ version, wantErr string }{
		{"5.8.6", ""},
		{"5.8.11", "import refused: the archive holds API keys"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			w, _, b := restoreWorld(t, tc.version)
			dir := t.TempDir()
			// A dashboard user's export of the source: with its API keys.
			archive := `{"meta":{"edition":"ee","version":"` + tc.version + `"},"records":{"r":"1"},` +
				`"api_keys":[{"name":"from_bootstrap_file_source-key","key":"source-key","secret":"source-secret"}]}`
			name := "emqx-export-2026-12-01-10-00-00.000.tar.gz"
			if err := os.WriteFile(filepath.Join(dir, name), []byte(archive), 0o600); err != nil {
				t.Fatal(err)
			}
			sha := Checksum([]byte(archive))
			dst := []emqxapi.Endpoint{{Pod: "b-0", BaseURL: "http://127.77.0.2:18083"}}
			_, err := backup.Restore(context.Background(), emqxapi.DefaultFactory, emqxapi.Credentials{Key: testKey, Secret: testSecret},
				dst, backup.DirStore{Dir: dir}, name, sha)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("restore: %v, want %q", err, tc.wantErr)
			}
			d, _ := w.sim.Data(b)
			if tc.wantErr == "" && !strings.Contains(strings.Join(d.APIKeys, ","), "from_bootstrap_file_source-key") {
				t.Errorf("the foreign key was not imported: %v", d.APIKeys)
			}
			if ans := w.get(2, "/api/v5/nodes"); ans.status != 200 {
				t.Errorf("the destination's own key after the import: HTTP %d", ans.status)
			}
		})
	}
}

// TestRestoreDetectsALockout: an archive holding a record of the destination key's own name (only
// possible when two clusters share a key, which the operator's per-cluster key names rule out)
// replaces it; the restore reports that the operator is locked out instead of calling it a success.
func TestRestoreDetectsALockout(t *testing.T) {
	_, _, _ = restoreWorld(t, "5.8.6")
	dir := t.TempDir()
	archive := `{"meta":{"edition":"ee","version":"5.8.6"},"records":{},` +
		`"api_keys":[{"name":"from_bootstrap_file_` + testKey + `","key":"` + testKey + `","secret":"another-secret"}]}`
	name := "emqx-export-2026-12-01-10-00-00.000.tar.gz"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(archive), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := []emqxapi.Endpoint{{Pod: "b-0", BaseURL: "http://127.77.0.2:18083"}}
	_, err := backup.Restore(context.Background(), emqxapi.DefaultFactory, emqxapi.Credentials{Key: testKey, Secret: testSecret},
		dst, backup.DirStore{Dir: dir}, name, Checksum([]byte(archive)))
	if !errors.Is(err, backup.ErrLockedOut) {
		t.Errorf("restore: %v, want a lockout", err)
	}
}
