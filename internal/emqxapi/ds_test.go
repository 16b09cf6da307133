package emqxapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestDSWritesReadRawOKAndIntegerCodes: EMQX answers a replica assignment with 202 and a raw OK
// (not JSON) and its DS 400s with an integer code (emqx6-behaviour.md §7 traps 1 and 2); the
// client takes the first as success and reads the second's message.
func TestDSWritesReadRawOKAndIntegerCodes(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v5/ds/storages/messages/replicas":
			b, _ := io.ReadAll(r.Body)
			body = string(b)
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte("OK"))
		case "/api/v5/ds/storages/sessions/replicas":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"code":400,"message":"Unknown sites: X"}`))
		case "/api/v5/ds/sites/A/forget":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"code":400,"message":"Site is considered temporarily down"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"NOT_FOUND","message":"DB 'x' does not exist"}`))
		}
	}))
	defer srv.Close()
	c := New(srv.URL, Credentials{Key: "k", Secret: "s"}, nil)
	ctx := context.Background()
	if err := c.SetDSReplicas(ctx, "messages", []string{"A", "B"}); err != nil || body != `["A","B"]` {
		t.Errorf("assign: %v, sent %s", err, body)
	}
	err := c.SetDSReplicas(ctx, "sessions", []string{"X"})
	if !IsBadRequest(err, "Unknown sites: X") {
		t.Errorf("assign of an unknown site: %v, want a 400 naming it", err)
	}
	if e, ok := err.(*Error); !ok || e.Code != "400" {
		t.Errorf("error %#v, want code 400 read", err)
	}
	if err := c.ForgetDSSite(ctx, "A"); !IsBadRequest(err, "temporarily down") {
		t.Errorf("forget: %v", err)
	}
	if _, err := c.DSStorage(ctx, "x"); !IsNotFound(err) {
		t.Errorf("unknown DB: %v, want 404", err)
	}
}
