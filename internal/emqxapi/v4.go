package emqxapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// EMQX 4.4's management API (port 8081, /api/v4, HTTP Basic with an application id and secret).
// Every answer is an envelope {"code": 0, "data": ...}; a code other than 0 is an error even
// with HTTP 200.

// NodeV4 is one element of GET /api/v4/nodes.
type NodeV4 struct {
	Node        string `json:"node"`
	NodeStatus  string `json:"node_status"`
	Version     string `json:"version,omitempty"`
	OTPRelease  string `json:"otp_release,omitempty"`
	Connections int64  `json:"connections,omitempty"`
	Uptime      string `json:"uptime,omitempty"`
}

// PodBaseURLV4 is where a pod's EMQX 4 management API answers.
func PodBaseURLV4(podIP string, port int32) string { return fmt.Sprintf("http://%s:%d", podIP, port) }

// NodesV4 lists the running nodes of the cluster as this node sees them.
func (c *Client) NodesV4(ctx context.Context) ([]NodeV4, error) {
	var nodes []NodeV4
	return nodes, c.callV4(ctx, http.MethodGet, "/api/v4/nodes", nil, &nodes)
}

// UploadLicenseV4 loads a new licence file into the whole cluster: EMQX 4.4 Enterprise validates
// it, copies it to every node and reloads it, without restarting anything. The body is
// {"license": "<file content>"} (EMQX 4.4 Enterprise HTTP API, "POST /api/v4/license/upload").
func (c *Client) UploadLicenseV4(ctx context.Context, license string) error {
	return c.callV4(ctx, http.MethodPost, "/api/v4/license/upload", map[string]string{"license": license}, nil)
}

// RestartListenerV4 restarts one listener on every node of the cluster, which re-reads its
// certificate files; only that listener's connections are dropped
// (EMQX 4.4 HTTP API, "PUT /api/v4/listeners/{identifier}/restart").
func (c *Client) RestartListenerV4(ctx context.Context, listener string) error {
	return c.callV4(ctx, http.MethodPut, "/api/v4/listeners/"+url.PathEscape(listener)+"/restart", nil, nil)
}

func (c *Client) callV4(ctx context.Context, method, path string, in, out any) error {
	status, raw, err := c.roundTrip(ctx, method, path, in)
	if err != nil {
		return err
	}
	var env struct {
		Code    *int            `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	decodeErr := json.Unmarshal(raw, &env)
	if status/100 != 2 || decodeErr != nil || env.Code == nil || *env.Code != 0 {
		e := &Error{Status: status, Message: string(raw)}
		if decodeErr == nil && env.Code != nil {
			e.Code, e.Message = fmt.Sprint(*env.Code), env.Message
		}
		if len(e.Message) > 512 {
			e.Message = e.Message[:512]
		}
		return e
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
	}
	return nil
}
