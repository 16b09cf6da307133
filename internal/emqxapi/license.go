package emqxapi

import (
	"context"
	"net/http"
)

// License is GET /api/v5/license.
type License struct {
	Customer    string `json:"customer"`
	Type        string `json:"type"`
	MaxSessions int64  `json:"max_sessions"`
	MaxConns    int64  `json:"max_connections"`
	ExpiryAt    string `json:"expiry_at"`
	Expiry      bool   `json:"expiry"`
}

// License reads the licence the cluster runs.
func (c *Client) License(ctx context.Context) (License, error) {
	var l License
	return l, c.getJSON(ctx, "/api/v5/license", &l)
}

// UpdateLicense applies a licence key to the whole cluster at once (POST /api/v5/license). A key
// EMQX rejects is a 400 *Error; the running licence stays.
func (c *Client) UpdateLicense(ctx context.Context, key string) (License, error) {
	var l License
	return l, c.send(ctx, http.MethodPost, "/api/v5/license", map[string]string{"key": key}, &l)
}
