package emqxapi

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
)

// Export is POST /api/v5/data/export's answer: an archive written on the answering node.
type Export struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	Node     string `json:"node"`
}

// ExportData asks the node to export the cluster's data (config and tables) into an archive in
// its backup directory. EMQX leaves api_keys and dashboard_users out for API-key callers.
func (c *Client) ExportData(ctx context.Context) (Export, error) {
	var e Export
	return e, c.send(ctx, http.MethodPost, "/api/v5/data/export", map[string]any{}, &e)
}

// DownloadData streams an archive from the node that holds it into w and returns the bytes copied.
func (c *Client) DownloadData(ctx context.Context, filename, node string, w io.Writer) (int64, error) {
	path := dataFilePath(filename, node)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(c.creds.Key, c.creds.Secret)
	resp, err := c.http.Do(req)
	countRequest(http.MethodGet, path, statusOf(resp), err)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, decodeError(resp.StatusCode, raw)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("downloading %s: %w", filename, err)
	}
	return n, nil
}

// DeleteData removes an archive from the node that holds it.
func (c *Client) DeleteData(ctx context.Context, filename, node string) error {
	return c.send(ctx, http.MethodDelete, dataFilePath(filename, node), nil, nil)
}

func dataFilePath(filename, node string) string {
	p := "/api/v5/data/files/" + url.PathEscape(filename)
	if node != "" {
		p += "?node=" + url.QueryEscape(node)
	}
	return p
}

// UploadData stores an archive on the answering node (POST /api/v5/data/files, multipart field
// "filename", whose file name becomes the archive's name there), streaming it from r.
func (c *Client) UploadData(ctx context.Context, filename string, r io.Reader) error {
	pr, pw := io.Pipe()
	form := multipart.NewWriter(pw)
	go func() {
		part, err := form.CreateFormFile("filename", filename)
		if err == nil {
			_, err = io.Copy(part, r)
		}
		if err == nil {
			err = form.Close()
		}
		_ = pw.CloseWithError(err)
	}()
	status, raw, err := c.do(ctx, http.MethodPost, "/api/v5/data/files", form.FormDataContentType(), pr)
	if err != nil {
		_ = pr.CloseWithError(err) // stops the writer if the request never read the body
		return err
	}
	if status/100 != 2 {
		return decodeError(status, raw)
	}
	return nil
}

// ImportData imports an archive the answering node holds (POST /api/v5/data/import). Run it on a
// core node: EMQX refuses imports elsewhere. EMQX merges: records with the same key are replaced,
// others stay.
func (c *Client) ImportData(ctx context.Context, filename string) error {
	return c.send(ctx, http.MethodPost, "/api/v5/data/import", map[string]any{"filename": filename}, nil)
}
