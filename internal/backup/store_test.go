package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/broker-ops/emqx-operator/test/s3server"
)

const (
	testAccessKey = "AKIATESTBACKUP"
	testSecretKey = "test-secret-key-for-backups"
)

// storeCase is one Store with a way to look at what it holds, bypassing the Store.
type storeCase struct {
	name  string
	store Store
	// holds lists every name the store's medium holds (files or object keys), hidden ones too.
	holds func() []string
}

func stores(t *testing.T) []storeCase {
	dir := t.TempDir()
	srv := startS3(t)
	s3, err := NewS3Store(S3Config{Endpoint: srv.URL, Bucket: "backups", Prefix: "emqx/", AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return []storeCase{
		{name: "dir", store: DirStore{Dir: dir}, holds: func() []string {
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return names
		}},
		{name: "s3", store: s3, holds: func() []string { return srv.Keys("backups") }},
	}
}

func startS3(t *testing.T) *s3server.Server {
	srv, err := s3server.Start("127.0.0.1:0", testAccessKey, testSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestStoresShowOnlyCommittedArchives(t *testing.T) {
	for _, c := range stores(t) {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			data := []byte("archive bytes")
			sum := sha256.Sum256(data)
			sha := hex.EncodeToString(sum[:])
			if err := c.store.Check(ctx); err != nil {
				t.Fatal(err)
			}

			up, err := c.store.Begin(ctx, "emqx-export-1.tar.gz")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := up.Write(data); err != nil {
				t.Fatal(err)
			}
			if held := c.holds(); strings.Contains(strings.Join(held, " "), "emqx-export-1.tar.gz ") ||
				strings.HasSuffix(strings.Join(held, " "), "emqx-export-1.tar.gz") {
				t.Fatalf("the archive is visible before Commit: %v", held)
			}
			if _, err := up.Commit(ctx, sha); err != nil {
				t.Fatal(err)
			}
			if err := c.store.Verify(ctx, "emqx-export-1.tar.gz", int64(len(data)), sha); err != nil {
				t.Fatal(err)
			}
			r, gotSHA, err := c.store.Open(ctx, "emqx-export-1.tar.gz")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			_ = r.Close()
			if string(got) != string(data) || gotSHA != sha {
				t.Errorf("Open = %q, sha %q", got, gotSHA)
			}
			if err := c.store.Verify(ctx, "emqx-export-1.tar.gz", int64(len(data)), strings.Repeat("0", 64)); !errors.Is(err, ErrChecksumMismatch) {
				t.Errorf("a wrong checksum passed the read-back: %v", err)
			}

			// An aborted upload leaves nothing behind.
			up, err = c.store.Begin(ctx, "emqx-export-2.tar.gz")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = up.Write([]byte("half"))
			up.Abort(ctx)
			if held := strings.Join(c.holds(), " "); strings.Contains(held, "export-2") || strings.Count(held, "export-1") != 2 {
				t.Errorf("store holds %s, want the first archive and its checksum only", held)
			}

			if err := c.store.Delete(ctx, "emqx-export-1.tar.gz"); err != nil {
				t.Fatal(err)
			}
			if err := c.store.Delete(ctx, "emqx-export-1.tar.gz"); err != nil {
				t.Errorf("deleting a deleted archive: %v", err)
			}
			if held := c.holds(); len(held) != 0 {
				t.Errorf("left after Delete: %v", held)
			}
			for _, bad := range []string{"", "../x.tar.gz", "a/b.tar.gz", ".hidden.tar.gz"} {
				if _, err := c.store.Begin(ctx, bad); err == nil {
					t.Errorf("name %q accepted", bad)
				}
			}
		})
	}
}

func TestDirStoreStoresChecksumInSha256sumFormat(t *testing.T) {
	ctx := context.Background()
	d := DirStore{Dir: t.TempDir()}
	up, err := d.Begin(ctx, "emqx-export-1.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("ab", 32)
	loc, err := up.Commit(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Dir, "emqx-export-1.tar.gz.sha256")); string(b) != sha+"  emqx-export-1.tar.gz\n" ||
		loc != filepath.Join(d.Dir, "emqx-export-1.tar.gz") {
		t.Errorf("checksum file = %q, location %s", b, loc)
	}
}

// TestS3StoreFailuresSayWhy: each way an S3 store can refuse a backup fails Check with the reason.
func TestS3StoreFailuresSayWhy(t *testing.T) {
	srv := startS3(t)
	closed := s3server.ClosedAddress(t)
	for name, tc := range map[string]struct {
		cfg  S3Config
		want string
	}{
		"unreachable":      {S3Config{Endpoint: "http://" + closed, Bucket: "backups"}, "connection refused"},
		"wrong access key": {S3Config{Endpoint: srv.URL, Bucket: "backups", AccessKeyID: "AKIAOTHER"}, "refused the credentials"},
		"wrong secret":     {S3Config{Endpoint: srv.URL, Bucket: "backups", SecretAccessKey: "wrong"}, "refused the credentials"},
		"bucket missing":   {S3Config{Endpoint: srv.URL, Bucket: "nothere"}, "bucket nothere does not exist"},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.cfg.AccessKeyID == "" {
				tc.cfg.AccessKeyID = testAccessKey
			}
			if tc.cfg.SecretAccessKey == "" {
				tc.cfg.SecretAccessKey = testSecretKey
			}
			s, err := NewS3Store(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := NewS3Store(S3Config{Endpoint: "s3.amazonaws.com", Bucket: "b", AccessKeyID: "a", SecretAccessKey: "b"}); err == nil {
		t.Error("an endpoint without a scheme was accepted")
	}
}
