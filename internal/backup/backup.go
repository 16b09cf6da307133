// Package backup takes one EMQX data backup, the work of a backup Job: export on a ready node,
// download the archive, verify it, store it where only a verified archive ever becomes visible,
// read it back, and delete the temporary copy on the node.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Result describes a stored backup.
type Result struct {
	// Node exported the archive; Filename is its name there and in the store.
	Node, Filename string
	Size           int64
	// SHA256 of the archive, checked again on read-back.
	SHA256 string
	// Location is where the store keeps it (a path, or an object URL).
	Location string
	// Warning is set when the backup is good but a clean-up step failed (the node's copy stays).
	Warning string
}

// Store keeps archives. Begin returns an Upload; nothing is visible under the name until Commit.
type Store interface {
	// Check fails when the store cannot take an archive (bucket missing, credentials refused,
	// directory not writable): asked before EMQX exports anything.
	Check(ctx context.Context) error
	Begin(ctx context.Context, name string) (Upload, error)
	// Verify reads the stored archive back and checks its size and checksum.
	Verify(ctx context.Context, name string, size int64, sha string) error
	// Open reads a stored archive; sha is the checksum stored beside it ("" when there is none).
	Open(ctx context.Context, name string) (r io.ReadCloser, sha string, err error)
	// Delete removes an archive and its checksum; an archive that is already gone is no error.
	Delete(ctx context.Context, name string) error
}

// Upload is an archive being written to a Store.
type Upload interface {
	io.Writer
	// Commit makes the archive visible under its name and returns where it is.
	Commit(ctx context.Context, sha string) (location string, err error)
	// Abort discards what was written; it is safe after a failed Commit.
	Abort(ctx context.Context)
}

// ErrSizeMismatch: the download was not the size EMQX said the export was.
var ErrSizeMismatch = errors.New("archive size differs from the export")

// Take runs one backup against the first of eps (ready core nodes) that answers.
func Take(ctx context.Context, f emqxapi.Factory, creds emqxapi.Credentials, eps []emqxapi.Endpoint, store Store) (Result, error) {
	// A store that cannot take the archive is found before EMQX writes one on a node.
	if err := store.Check(ctx); err != nil {
		return Result{}, fmt.Errorf("store: %w", err)
	}
	ans, err := emqxapi.FirstAnswer(ctx, f, creds, eps, func(ctx context.Context, c *emqxapi.Client) (emqxapi.Export, error) {
		return c.ExportData(ctx)
	})
	if err != nil {
		return Result{}, fmt.Errorf("export: %w", err)
	}
	exp := ans.Value
	res := Result{Node: exp.Node, Filename: exp.Filename}
	// The archive lives on the node that exported it: download and delete from that same node.
	client := f(ans.Endpoint.BaseURL, creds)

	up, err := store.Begin(ctx, exp.Filename)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	sum := sha256.New()
	n, err := client.DownloadData(ctx, exp.Filename, exp.Node, io.MultiWriter(up, sum))
	if err == nil && n != exp.Size {
		err = fmt.Errorf("%w: downloaded %d bytes, EMQX exported %d", ErrSizeMismatch, n, exp.Size)
	}
	if err != nil {
		up.Abort(ctx)
		return res, fmt.Errorf("download %s from %s: %w", exp.Filename, exp.Node, err)
	}
	res.Size, res.SHA256 = n, hex.EncodeToString(sum.Sum(nil))
	if res.Location, err = up.Commit(ctx, res.SHA256); err != nil {
		up.Abort(ctx)
		return res, fmt.Errorf("store: %w", err)
	}
	if err := store.Verify(ctx, exp.Filename, res.Size, res.SHA256); err != nil {
		// An archive that does not read back as written must not pass for a backup.
		if derr := store.Delete(ctx, exp.Filename); derr != nil {
			err = fmt.Errorf("%w; deleting it failed too: %v", err, derr)
		}
		return res, fmt.Errorf("read-back of %s: %w", res.Location, err)
	}
	if err := client.DeleteData(ctx, exp.Filename, exp.Node); err != nil {
		res.Warning = fmt.Sprintf("the archive is stored, but deleting %s on %s failed: %v", exp.Filename, exp.Node, err)
	}
	return res, nil
}

// Report is what `manager backup` prints and leaves as its termination message: the result, or
// why it failed.
type Report struct {
	Result
	Error string `json:"error,omitempty"`
}
