package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestDirStoreShowsOnlyCommittedArchives(t *testing.T) {
	ctx := context.Background()
	d := DirStore{Dir: t.TempDir()}
	data := []byte("archive bytes")
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])

	up, err := d.Begin(ctx, "emqx-export-1.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "emqx-export-1.tar.gz")); !os.IsNotExist(err) {
		t.Fatal("the archive is visible before Commit")
	}
	loc, err := up.Commit(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(ctx, loc, int64(len(data)), sha); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(loc + ".sha256"); string(b) != sha+"  emqx-export-1.tar.gz\n" {
		t.Errorf("checksum file = %q", b)
	}

	// A corrupted archive fails the read-back.
	if err := os.WriteFile(loc, []byte("archive bytez"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(ctx, loc, int64(len(data)), sha); err == nil {
		t.Error("a corrupted archive passed the read-back")
	}

	// An aborted upload leaves nothing behind.
	up, err = d.Begin(ctx, "emqx-export-2.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = up.Write([]byte("half"))
	up.Abort(ctx)
	entries, _ := os.ReadDir(d.Dir)
	for _, e := range entries {
		if e.Name() != "emqx-export-1.tar.gz" && e.Name() != "emqx-export-1.tar.gz.sha256" {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	for _, bad := range []string{"", "../x.tar.gz", "a/b.tar.gz", ".hidden.tar.gz"} {
		if _, err := d.Begin(ctx, bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}
