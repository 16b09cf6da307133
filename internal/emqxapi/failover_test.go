package emqxapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFirstAnswerSkipsDeadAndFailingNodes(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`Unsupported code 'RPC_ERROR'`))
	}))
	defer down.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k, s, ok := r.BasicAuth(); !ok || k != "op" || s != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}`))
			return
		}
		_, _ = w.Write([]byte(`[{"node":"emqx@a","node_status":"running","role":"core","version":"5.8.6"}]`))
	}))
	defer good.Close()

	eps := []Endpoint{{Pod: "dead", BaseURL: "http://127.0.0.1:1"}, {Pod: "5xx", BaseURL: down.URL}, {Pod: "good", BaseURL: good.URL}}
	ans, err := FirstAnswer(context.Background(), DefaultFactory, Credentials{Key: "op", Secret: "pw"}, eps,
		func(ctx context.Context, c *Client) ([]Node, error) { return c.Nodes(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	if ans.Endpoint.Pod != "good" || len(ans.Value) != 1 || ans.Value[0].Node != "emqx@a" || len(ans.Failed) != 2 {
		t.Errorf("answer = %+v", ans)
	}
	var apiErr *Error
	if !errors.As(ans.Failed["5xx"], &apiErr) || apiErr.Status != 500 {
		t.Errorf("5xx error = %v", ans.Failed["5xx"])
	}
}

func TestFirstAnswerStopsAtAuthFailure(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}`))
	}))
	defer srv.Close()
	_, err := FirstAnswer(context.Background(), DefaultFactory, Credentials{Key: "x", Secret: "y"},
		[]Endpoint{{Pod: "a", BaseURL: srv.URL}, {Pod: "b", BaseURL: srv.URL}},
		func(ctx context.Context, c *Client) ([]Node, error) { return c.Nodes(ctx) })
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != "BAD_API_KEY_OR_SECRET" || calls != 1 {
		t.Errorf("err = %v after %d calls; want BAD_API_KEY_OR_SECRET after 1", err, calls)
	}
}

func TestNoEndpoint(t *testing.T) {
	_, err := FirstAnswer(context.Background(), DefaultFactory, Credentials{}, nil,
		func(ctx context.Context, c *Client) ([]Node, error) { return c.Nodes(ctx) })
	if !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("err = %v", err)
	}
}
