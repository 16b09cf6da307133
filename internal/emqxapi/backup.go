package emqxapi

import (
	"context"
	"fmt"
	"io"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+dataFilePath(filename, node), nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(c.creds.Key, c.creds.Secret)
	resp, err := c.http.Do(req)
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
