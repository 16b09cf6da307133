package emqxapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/internal/dsrepl"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
)

// statuses an EMQX node (or a proxy in front of it) answers with.
var statuses = []int{200, 201, 204, 400, 401, 403, 404, 409, 500, 502, 503}

// FuzzOddAnswers: whatever a node answers (status and body: truncated JSON, the wrong shape,
// an HTML error page, a number where a string was), every read the operator makes returns a
// value or an error and never panics, and what the operator derives from the values (versions,
// durable-storage summaries) does not either. A non-2xx answer is always an *emqxapi.Error with
// that status, which is what the operator's decisions switch on.
func FuzzOddAnswers(f *testing.F) {
	for _, seed := range []struct {
		status uint8
		body   string
	}{
		{0, `[{"node":"emqx@a","node_status":"running","version":"6.1.1","role":"core","uptime":1}]`},
		{0, `{"customer":"x","type":"trial","max_sessions":100,"expiry_at":"2027-01-01","expiry":false}`},
		{0, `{"evacuations":[{"node":"emqx@a","state":"evicting_conns","stats":{"initial_connected":5}}]}`},
		{0, `{"name":"messages","shards":[{"id":"0","replicas":[{"site":"s1","status":"up"}],"transitions":[{"site":"s2","transition":"add"}]}]}`},
		{0, `["s1","s2"]`},
		{0, `[{"name":"p","rel_vsn":"1.0.0","running_status":[{"node":"emqx@a","status":"running"}]}]`},
		{0, "# TYPE emqx_connections_count gauge\nemqx_connections_count 1\n"},
		{0, `{"filename":"a.tar.gz","size":10,"node":"emqx@a"}`},
		{0, `[{"name":"messages","shards":null}]`},
		{0, `{"version":"5.8.99-beta.1"}`},
		{3, `{"code":"BAD_REQUEST","message":{"reason":"oops"}}`},
		{3, `{"code":400,"message":"not a site"}`},
		{4, `{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}`},
		{9, `<html><body>502 Bad Gateway</body></html>`},
		{0, `{"truncated":`},
		{0, ``},
		{0, `null`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	var mu sync.Mutex
	var status int
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		s, b := status, body
		mu.Unlock()
		w.WriteHeader(s)
		_, _ = w.Write(b)
	}))
	f.Cleanup(srv.Close)
	c := emqxapi.New(srv.URL, emqxapi.Credentials{Key: "k", Secret: "s"}, &http.Client{Timeout: 5 * time.Second})

	f.Fuzz(func(t *testing.T, s uint8, b []byte) {
		mu.Lock()
		status, body = statuses[int(s)%len(statuses)], b
		mu.Unlock()
		ctx := context.Background()
		check := func(what string, err error) {
			t.Helper()
			if status/100 == 2 {
				return
			}
			var apiErr *emqxapi.Error
			if !errors.As(err, &apiErr) || apiErr.Status != status {
				t.Fatalf("%s: a %d answer gave %v, want an *emqxapi.Error with that status", what, status, err)
			}
		}
		nodes, err := c.Nodes(ctx)
		check("Nodes", err)
		for _, n := range nodes {
			upgradepath.Parse(n.Version)
		}
		_, err = c.License(ctx)
		check("License", err)
		_, err = c.Evacuations(ctx)
		check("Evacuations", err)
		_, err = c.DSSites(ctx)
		check("DSSites", err)
		_, err = c.DSSite(ctx, "s1")
		check("DSSite", err)
		_, err = c.DSStorages(ctx)
		check("DSStorages", err)
		db, err := c.DSStorage(ctx, "messages")
		check("DSStorage", err)
		dsrepl.TargetUnion(db)
		dsrepl.Summarize([]emqxapi.DSDB{db})
		_, err = c.Plugins(ctx)
		check("Plugins", err)
		_, _, err = c.PluginConfig(ctx, "p-1.0.0")
		if status != 404 { // a 404 is "no config", not an error
			check("PluginConfig", err)
		}
		_, err = c.PrometheusStats(ctx, "node")
		check("PrometheusStats", err)
		_, err = c.ExportData(ctx)
		check("ExportData", err)
		_, err = c.NodesV4(ctx)
		check("NodesV4", err)
	})
}
