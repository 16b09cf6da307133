package emqxapi

import (
	"context"
	"net/http"
	"net/url"
)

// DSSite is GET /api/v5/ds/sites/{site}: the node that owns a durable-storage site, whether that
// node is up, and the shards the site holds or is joining.
type DSSite struct {
	Node   string        `json:"node"`
	Up     bool          `json:"up"`
	Shards []DSSiteShard `json:"shards"`
}

// DSSiteShard is one shard of a site: its DB, its ID, the status of the site's node
// (up/down/lost, not Raft health) and the pending transition if any ("joining", "leaving").
type DSSiteShard struct {
	Storage    string `json:"storage"`
	ID         string `json:"id"`
	Status     string `json:"status"`
	Transition string `json:"transition,omitempty"`
}

// DSDB is GET /api/v5/ds/storages/{db}: each shard's current replica set and pending transitions.
type DSDB struct {
	Name   string    `json:"name"`
	Shards []DSShard `json:"shards"`
}

// DSShard is one shard of a DB. Transitions is absent while none is pending.
type DSShard struct {
	ID          string         `json:"id"`
	Replicas    []DSReplica    `json:"replicas"`
	Transitions []DSTransition `json:"transitions,omitempty"`
}

// DSReplica is one member of a shard's current replica set and its node's status.
type DSReplica struct {
	Site   string `json:"site"`
	Status string `json:"status"`
}

// DSTransition is a pending change of a shard's replica set: a site "joining" or "leaving".
type DSTransition struct {
	Site       string `json:"site"`
	Transition string `json:"transition"`
}

// DSSites lists every site the cluster knows, lost and replicant sites included.
func (c *Client) DSSites(ctx context.Context) ([]string, error) {
	var sites []string
	return sites, c.getJSON(ctx, "/api/v5/ds/sites", &sites)
}

// DSSite reads one site.
func (c *Client) DSSite(ctx context.Context, site string) (DSSite, error) {
	var s DSSite
	return s, c.getJSON(ctx, "/api/v5/ds/sites/"+url.PathEscape(site), &s)
}

// DSStorages lists the durable-storage DBs that exist (none while durable sessions are off).
func (c *Client) DSStorages(ctx context.Context) ([]string, error) {
	var dbs []string
	return dbs, c.getJSON(ctx, "/api/v5/ds/storages", &dbs)
}

// DSStorage reads one DB's shards.
func (c *Client) DSStorage(ctx context.Context, db string) (DSDB, error) {
	var d DSDB
	return d, c.getJSON(ctx, "/api/v5/ds/storages/"+url.PathEscape(db), &d)
}

// SetDSReplicas replaces the target replica set of every shard of db (PUT …/replicas; EMQX
// allocates min(#sites, replication_factor) of them to each shard). EMQX answers 202 with a raw
// OK, not JSON; transitions then run in the background.
func (c *Client) SetDSReplicas(ctx context.Context, db string, sites []string) error {
	if sites == nil {
		sites = []string{}
	}
	return c.send(ctx, http.MethodPut, "/api/v5/ds/storages/"+url.PathEscape(db)+"/replicas", sites, nil)
}

// ForgetDSSite drops a lost site that holds no replica (EMQX 6.0+; 204). EMQX refuses it while the
// site's node is up or merely down, or while the site is in a replica set.
func (c *Client) ForgetDSSite(ctx context.Context, site string) error {
	return c.send(ctx, http.MethodPut, "/api/v5/ds/sites/"+url.PathEscape(site)+"/forget", nil, nil)
}
