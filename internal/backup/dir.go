package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// Begin implements Store.
func (d DirStore) Begin(_ context.Context, name string) (Upload, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("unsafe archive name %q", name)
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
func (d DirStore) Verify(_ context.Context, location string, size int64, sha string) error {
	f, err := os.Open(location)
	if err != nil {
		return err
	}
	defer f.Close() //nolint:errcheck // read-only
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%w: %d bytes stored, %d expected", ErrSizeMismatch, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("checksum %s, want %s", got, sha)
	}
	return nil
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
	if err := os.WriteFile(sumFile, []byte(sha+"  "+filepath.Base(u.final)+"\n"), 0o640); err != nil {
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
