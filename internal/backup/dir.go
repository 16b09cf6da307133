package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DirStore keeps archives in a directory, e.g. a PVC mounted into the backup Job. An archive is
// written under a hidden partial name and renamed into place only once complete and fsynced, so
// a crash or a failed download never leaves something that looks like a good backup; its
// checksum is kept beside it (<name>.sha256, sha256sum format).
type DirStore struct {
	Dir string
}

// Check implements Store: the directory exists (or can be made) and takes files.
func (d DirStore) Check(context.Context) error {
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(d.Dir, ".check-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", d.Dir, err)
	}
	_ = f.Close()
	return os.Remove(f.Name())
}

// Begin implements Store.
func (d DirStore) Begin(_ context.Context, name string) (Upload, error) {
	if err := safeName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(d.Dir, "."+name+".partial-*")
	if err != nil {
		return nil, err
	}
	return &dirUpload{f: f, final: filepath.Join(d.Dir, name)}, nil
}

// Verify implements Store.
func (d DirStore) Verify(_ context.Context, name string, size int64, sha string) error {
	f, err := os.Open(filepath.Join(d.Dir, name))
	if err != nil {
		return err
	}
	defer f.Close() //nolint:errcheck // read-only
	return verifyStream(f, size, sha)
}

// Open implements Store.
func (d DirStore) Open(_ context.Context, name string) (io.ReadCloser, string, error) {
	if err := safeName(name); err != nil {
		return nil, "", err
	}
	f, err := os.Open(filepath.Join(d.Dir, name))
	if err != nil {
		return nil, "", err
	}
	sum, err := os.ReadFile(filepath.Join(d.Dir, name) + ".sha256")
	if err != nil && !os.IsNotExist(err) {
		_ = f.Close()
		return nil, "", err
	}
	return f, parseSHA256File(sum), nil
}

// Delete implements Store.
func (d DirStore) Delete(_ context.Context, name string) error {
	if err := safeName(name); err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(d.Dir, name), filepath.Join(d.Dir, name) + ".sha256"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// safeName refuses archive names that could leave the store's directory or hide in it.
func safeName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("unsafe archive name %q", name)
	}
	return nil
}

// verifyStream reads r to the end and checks its size and SHA-256.
func verifyStream(r io.Reader, size int64, sha string) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%w: %d bytes stored, %d expected", ErrSizeMismatch, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("%w: %s, want %s", ErrChecksumMismatch, got, sha)
	}
	return nil
}

// ErrChecksumMismatch: a stored archive does not have the checksum it was stored with.
var ErrChecksumMismatch = errors.New("archive checksum differs")

// sha256Line is a checksum file's line (sha256sum format: "<hex>  <name>").
func sha256Line(sha, name string) []byte { return []byte(sha + "  " + name + "\n") }

// parseSHA256File returns the checksum in a sha256sum-format file ("" when there is none).
func parseSHA256File(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f[0]) != 64 {
		return ""
	}
	return f[0]
}

type dirUpload struct {
	f     *os.File
	final string
}

func (u *dirUpload) Write(p []byte) (int, error) { return u.f.Write(p) }

func (u *dirUpload) Commit(_ context.Context, sha string) (string, error) {
	if err := u.f.Sync(); err != nil {
		return "", err
	}
	if err := u.f.Close(); err != nil {
		return "", err
	}
	if _, err := os.Stat(u.final); err == nil {
		return "", fmt.Errorf("%s already exists", u.final)
	}
	sumFile := u.final + ".sha256"
	if err := os.WriteFile(sumFile, sha256Line(sha, filepath.Base(u.final)), 0o640); err != nil {
		return "", err
	}
	if err := os.Rename(u.f.Name(), u.final); err != nil {
		_ = os.Remove(sumFile)
		return "", err
	}
	return u.final, nil
}

func (u *dirUpload) Abort(context.Context) {
	_ = u.f.Close()
	_ = os.Remove(u.f.Name())
}
