package emqxapi

import (
	"context"
	"net/http"
	"net/url"
)

// PrometheusStats reads the node's Prometheus text exposition in the given mode (node,
// all_nodes_aggregated, all_nodes_unaggregated), the way a scraper does: with this client's
// credentials as basic auth and no JSON Accept header. An answer other than 2xx is an *Error
// (401 when the endpoint asks for credentials it does not accept).
func (c *Client) PrometheusStats(ctx context.Context, mode string) ([]byte, error) {
	path := "/api/v5/prometheus/stats?mode=" + url.QueryEscape(mode)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.creds.Key, c.creds.Secret)
	req.Header.Set("Accept", "text/plain")
	resp, err := c.http.Do(req)
	countRequest(http.MethodGet, path, statusOf(resp), err)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	body, err := readLimited(resp, 16<<20)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeError(resp.StatusCode, body)
	}
	return body, nil
}
