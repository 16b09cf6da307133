package emqxapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
)

// Plugin is one element of GET /api/v5/plugins (emqx6-behaviour.md §5). Name carries no version:
// the plugin's path name is Name + "-" + RelVsn.
type Plugin struct {
	Name          string             `json:"name"`
	RelVsn        string             `json:"rel_vsn"`
	Description   string             `json:"description,omitempty"`
	RunningStatus []PluginNodeStatus `json:"running_status"`
}

// NameVsn is the plugin's name-version, as the paths of the plugin API take it.
func (p Plugin) NameVsn() string { return p.Name + "-" + p.RelVsn }

// PluginNodeStatus is the plugin on one running node that has its package.
type PluginNodeStatus struct {
	Node   string `json:"node"`
	Status string `json:"status"` // running | stopped
}

// Plugins lists the plugins of the cluster the answering node is in, in the cluster's order.
func (c *Client) Plugins(ctx context.Context) ([]Plugin, error) {
	var out []Plugin
	return out, c.getJSON(ctx, "/api/v5/plugins", &out)
}

// InstallPlugin uploads a package (POST /api/v5/plugins/install, multipart field "plugin", file
// <name-vsn>.tar.gz). EMQX pushes it to every running node and records it stopped.
func (c *Client) InstallPlugin(ctx context.Context, nameVsn string, pkg []byte) error {
	var buf bytes.Buffer
	form := multipart.NewWriter(&buf)
	part, err := form.CreateFormFile("plugin", nameVsn+".tar.gz")
	if err != nil {
		return err
	}
	if _, err := part.Write(pkg); err != nil {
		return err
	}
	if err := form.Close(); err != nil {
		return err
	}
	status, raw, err := c.do(ctx, http.MethodPost, "/api/v5/plugins/install", form.FormDataContentType(), &buf)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return decodeError(status, raw)
	}
	return nil
}

// DeletePlugin stops, uninstalls and deletes a plugin on every node.
func (c *Client) DeletePlugin(ctx context.Context, nameVsn string) error {
	return c.send(ctx, http.MethodDelete, pluginPath(nameVsn), nil, nil)
}

// StartPlugin enables the plugin cluster-wide and starts it on every running node.
func (c *Client) StartPlugin(ctx context.Context, nameVsn string) error {
	return c.send(ctx, http.MethodPut, pluginPath(nameVsn)+"/start", nil, nil)
}

// StopPlugin disables the plugin cluster-wide and stops it on every node.
func (c *Client) StopPlugin(ctx context.Context, nameVsn string) error {
	return c.send(ctx, http.MethodPut, pluginPath(nameVsn)+"/stop", nil, nil)
}

// SyncPlugin copies the package from the answering node to every running node that lacks it.
func (c *Client) SyncPlugin(ctx context.Context, nameVsn string) error {
	return c.send(ctx, http.MethodPost, "/api/v5/plugins/cluster_sync", map[string]string{"name": nameVsn}, nil)
}

// MovePlugin changes the plugin's position in the cluster's list: "front", "rear",
// "before:<name-vsn>" or "after:<name-vsn>".
func (c *Client) MovePlugin(ctx context.Context, nameVsn, position string) error {
	return c.send(ctx, http.MethodPost, pluginPath(nameVsn)+"/move", map[string]string{"position": position}, nil)
}

// PluginConfig is the plugin's configuration; found is false when the plugin has none (EMQX
// answers 400 BAD_CONFIG "Plugin Config Not Found"). EMQX labels this answer with the content type
// 'application/json' in quotes, so the body is decoded whatever the header says.
func (c *Client) PluginConfig(ctx context.Context, nameVsn string) (cfg json.RawMessage, found bool, err error) {
	status, raw, err := c.do(ctx, http.MethodGet, pluginPath(nameVsn)+"/config", "", nil)
	if err != nil {
		return nil, false, err
	}
	if status == http.StatusBadRequest {
		if e, ok := decodeError(status, raw).(*Error); ok && e.Code == "BAD_CONFIG" {
			return nil, false, nil
		}
	}
	if status/100 != 2 {
		return nil, false, decodeError(status, raw)
	}
	if !json.Valid(raw) {
		return nil, false, fmt.Errorf("the configuration of plugin %s is not JSON", nameVsn)
	}
	return json.RawMessage(bytes.TrimSpace(raw)), true, nil
}

// SetPluginConfig replaces the plugin's configuration; EMQX checks it against the plugin's schema
// (400 BAD_CONFIG) and keeps the running configuration when it refuses.
func (c *Client) SetPluginConfig(ctx context.Context, nameVsn string, cfg json.RawMessage) error {
	return c.send(ctx, http.MethodPut, pluginPath(nameVsn)+"/config", cfg, nil)
}

func pluginPath(nameVsn string) string { return "/api/v5/plugins/" + url.PathEscape(nameVsn) }

// HasCode reports an EMQX error answer with this status and code.
func HasCode(err error, status int, code string) bool {
	var e *Error
	return asError(err, &e) && e.Status == status && e.Code == code
}
