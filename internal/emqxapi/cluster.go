package emqxapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Invite asks the answering node's cluster to take in node (PUT /cluster/{node}/invite).
func (c *Client) Invite(ctx context.Context, node string) error {
	return c.send(ctx, http.MethodPut, "/api/v5/cluster/"+url.PathEscape(node)+"/invite", map[string]int{"timeout": 15000}, nil)
}

// ForceLeave removes a departed node from the cluster (DELETE /cluster/{node}/force_leave).
func (c *Client) ForceLeave(ctx context.Context, node string) error {
	return c.send(ctx, http.MethodDelete, "/api/v5/cluster/"+url.PathEscape(node)+"/force_leave", nil, nil)
}

// EvacuationOptions is the body of evacuation/start.
type EvacuationOptions struct {
	ConnEvictRate   int32    `json:"conn_evict_rate"`
	SessEvictRate   int32    `json:"sess_evict_rate"`
	WaitTakeover    int32    `json:"wait_takeover"`
	WaitHealthCheck int32    `json:"wait_health_check"`
	MigrateTo       []string `json:"migrate_to,omitempty"`
}

// StartEvacuation starts evacuating node's clients to the other nodes.
func (c *Client) StartEvacuation(ctx context.Context, node string, o EvacuationOptions) error {
	return c.send(ctx, http.MethodPost, "/api/v5/load_rebalance/"+url.PathEscape(node)+"/evacuation/start", o, nil)
}

// StopEvacuation ends node's evacuation (it accepts clients again).
func (c *Client) StopEvacuation(ctx context.Context, node string) error {
	return c.send(ctx, http.MethodPost, "/api/v5/load_rebalance/"+url.PathEscape(node)+"/evacuation/stop", map[string]any{}, nil)
}

// Evacuation is one entry of global_status.evacuations.
type Evacuation struct {
	Node  string `json:"node"`
	State string `json:"state"`
	Stats struct {
		InitialConnected int64 `json:"initial_connected"`
		CurrentConnected int64 `json:"current_connected"`
	} `json:"stats"`
}

// Evacuations lists the cluster's running evacuations (GET /load_rebalance/global_status).
func (c *Client) Evacuations(ctx context.Context) ([]Evacuation, error) {
	var out struct {
		Evacuations []Evacuation `json:"evacuations"`
	}
	err := c.getJSON(ctx, "/api/v5/load_rebalance/global_status", &out)
	return out.Evacuations, err
}

// send makes a JSON call; out may be nil (EMQX answers many calls with an empty body).
func (c *Client) send(ctx context.Context, method, path string, in, out any) error {
	status, raw, err := c.roundTrip(ctx, method, path, in)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return decodeError(status, raw)
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// roundTrip sends in as JSON (nil: no body) and returns the answer.
func (c *Client) roundTrip(ctx context.Context, method, path string, in any) (int, []byte, error) {
	if in == nil {
		return c.do(ctx, method, path, "", nil)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return 0, nil, err
	}
	// EMQX answers 415 to JSON-schema endpoints without this content type.
	return c.do(ctx, method, path, "application/json", bytes.NewReader(b))
}

// do sends one request with the client's credentials and returns the status and (at most 16 MiB
// of) the answer. contentType is set when there is a body.
func (c *Client) do(ctx context.Context, method, path, contentType string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(c.creds.Key, c.creds.Secret)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		countRequest(method, path, 0, err)
		return 0, nil, err
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	countRequest(method, path, resp.StatusCode, nil)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading %s %s: %w", method, path, err)
	}
	return resp.StatusCode, raw, nil
}

// IsBadRequest reports an EMQX 400 whose message contains text (EMQX signals "already started",
// "not started", "already in cluster" this way).
func IsBadRequest(err error, text string) bool {
	var e *Error
	if !asError(err, &e) {
		return false
	}
	return e.Status == http.StatusBadRequest && bytes.Contains([]byte(e.Message), []byte(text))
}

// IsNotFound reports an EMQX 404 (an unknown path on editions without the feature, or an unknown node).
func IsNotFound(err error) bool {
	var e *Error
	return asError(err, &e) && e.Status == http.StatusNotFound
}
