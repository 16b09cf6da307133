package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Restored describes an imported archive.
type Restored struct {
	Node, Filename, SHA256 string
	Size                   int64
	// Warning is set when the import succeeded but a clean-up step failed.
	Warning string `json:",omitempty"`
}

// RestoreReport is what `manager restore` prints and leaves as its termination message.
type RestoreReport struct {
	Restored
	Error string `json:"error,omitempty"`
}

// ErrLockedOut: after the import the operator's API key no longer works on the cluster.
var ErrLockedOut = errors.New("the import replaced the operator's API key")

// Restore imports the stored archive name into the cluster of eps (ready core nodes): it uploads
// the archive to the first core that answers, checking on the way that it has the checksum it was
// stored with (want, or the store's own checksum file), imports it there, deletes the uploaded
// copy, and checks that the operator's key still works. An archive whose checksum differs is
// never imported.
func Restore(ctx context.Context, f emqxapi.Factory, creds emqxapi.Credentials, eps []emqxapi.Endpoint, store Store, name, want string) (Restored, error) {
	res := Restored{Filename: name}
	r, stored, err := store.Open(ctx, name)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	defer r.Close() //nolint:errcheck // read-only
	switch {
	case want == "":
		want = stored
	case stored != "" && stored != want:
		return res, fmt.Errorf("%w: the store's checksum file says %s, the backup %s", ErrChecksumMismatch, stored, want)
	}
	if want == "" {
		return res, fmt.Errorf("archive %s has no checksum to check it against (no .sha256 beside it, none given)", name)
	}

	// Uploads go to one node (the archive is streamed once): pick a core that answers first.
	ans, err := emqxapi.FirstAnswer(ctx, f, creds, eps, func(ctx context.Context, c *emqxapi.Client) ([]emqxapi.Node, error) {
		return c.Nodes(ctx)
	})
	if err != nil {
		return res, fmt.Errorf("finding a core node: %w", err)
	}
	client := f(ans.Endpoint.BaseURL, creds)
	res.Node = ans.Endpoint.Pod

	sum := sha256.New()
	counted := &countingReader{r: io.TeeReader(r, sum)}
	if err := client.UploadData(ctx, name, counted); err != nil {
		return res, fmt.Errorf("upload to %s: %w", ans.Endpoint.Pod, err)
	}
	res.Size, res.SHA256 = counted.n, hex.EncodeToString(sum.Sum(nil))
	if res.SHA256 != want {
		err := fmt.Errorf("%w: read %s from the store, want %s; nothing was imported", ErrChecksumMismatch, res.SHA256, want)
		if derr := client.DeleteData(ctx, name, ""); derr != nil {
			err = fmt.Errorf("%w (deleting the uploaded copy on %s failed: %v)", err, ans.Endpoint.Pod, derr)
		}
		return res, err
	}
	if err := client.ImportData(ctx, name); err != nil {
		return res, importError(err)
	}
	if err := client.DeleteData(ctx, name, ""); err != nil {
		res.Warning = fmt.Sprintf("imported, but deleting the uploaded %s on %s failed: %v", name, ans.Endpoint.Pod, err)
	}
	// The operator's key is unique to each cluster, so no archive should hold a record of that
	// name; check anyway, because an operator that cannot call EMQX cannot run the cluster.
	if _, err := client.Nodes(ctx); err != nil {
		var apiErr *emqxapi.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			return res, fmt.Errorf("%w: EMQX now refuses it (%v); restart the core nodes so they read the API-key bootstrap file again", ErrLockedOut, err)
		}
		res.Warning = fmt.Sprintf("imported, but %s did not answer afterwards: %v", ans.Endpoint.Pod, err)
	}
	return res, nil
}

// importError explains EMQX's refusals of an import.
func importError(err error) error {
	var apiErr *emqxapi.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden {
		return fmt.Errorf("import refused: the archive holds API keys or dashboard users, which EMQX does not let an API key import "+
			"(archives made by this operator leave them out; export without the api_keys and dashboard_users table sets): %w", err)
	}
	return fmt.Errorf("import: %w", err)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
