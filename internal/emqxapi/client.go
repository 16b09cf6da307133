// Package emqxapi is a client for EMQX's REST API (/api/v5, dashboard port 18083), authenticated
// with the operator's bootstrap API key. It knows nothing about who answers: a real EMQX node or
// a test double speaking the same API.
package emqxapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Node is one element of GET /api/v5/nodes.
type Node struct {
	Node            string `json:"node"`
	NodeStatus      string `json:"node_status"`
	Role            string `json:"role,omitempty"`
	Version         string `json:"version,omitempty"`
	Edition         string `json:"edition,omitempty"`
	OTPRelease      string `json:"otp_release,omitempty"`
	Uptime          int64  `json:"uptime,omitempty"`
	Connections     int64  `json:"connections,omitempty"`
	LiveConnections int64  `json:"live_connections,omitempty"`
}

// Credentials are an API key and its secret.
type Credentials struct {
	Key, Secret string
}

// Error is an EMQX error answer: the HTTP status and EMQX's code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("EMQX answered HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("EMQX answered HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// Client talks to one EMQX node.
type Client struct {
	base  string
	creds Credentials
	http  *http.Client
}

// DefaultTimeout bounds one call, so one node that stops answering cannot stall a reconcile.
const DefaultTimeout = 5 * time.Second

// New returns a client for the node whose API is at baseURL (e.g. http://10.0.0.1:18083).
func New(baseURL string, creds Credentials, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: baseURL, creds: creds, http: hc}
}

// BaseURL is the node's API address.
func (c *Client) BaseURL() string { return c.base }

// Nodes lists the cluster's nodes as this node sees them.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var nodes []Node
	return nodes, c.getJSON(ctx, "/api/v5/nodes", &nodes)
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	status, body, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return decodeError(status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

func decodeError(status int, body []byte) error {
	e := &Error{Status: status}
	// The code is a string ("NOT_FOUND") on most errors, an integer (400) on some (durable
	// storage's 400s): both are read.
	var env struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Code) > 0 && string(env.Code) != "null" {
		var code string
		if json.Unmarshal(env.Code, &code) != nil {
			code = string(env.Code)
		}
		e.Code = code
		var s string
		if json.Unmarshal(env.Message, &s) == nil {
			e.Message = s
		} else {
			e.Message = string(env.Message)
		}
		return e
	}
	e.Message = string(body)
	if len(e.Message) > 512 {
		e.Message = e.Message[:512]
	}
	return e
}
