package emqxapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestV4EnvelopeCodeIsTheAnswer: EMQX 4 answers errors with a non-zero code, sometimes with HTTP
// 200; only code 0 is success, and its data is decoded.
func TestV4EnvelopeCodeIsTheAnswer(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "app" || secret != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":106,"message":"Auth Failed"}`)
			return
		}
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			if string(b) != `{"license":"LIC"}` {
				t.Errorf("upload body %s", b)
			}
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c := New(srv.URL, Credentials{Key: "app", Secret: "s3cret"}, nil)
	body = `{"code":0,"data":[{"node":"emqx@a","node_status":"Running","version":"4.4.1","connections":3}]}`
	nodes, err := c.NodesV4(context.Background())
	if err != nil || len(nodes) != 1 || nodes[0].NodeStatus != "Running" || nodes[0].Connections != 3 {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	body = `{"code":102,"message":"invalid license"}`
	var apiErr *Error
	if err := c.UploadLicenseV4(context.Background(), "LIC"); !errors.As(err, &apiErr) || apiErr.Code != "102" || apiErr.Message != "invalid license" {
		t.Errorf("a code-102 answer with HTTP 200: %v", err)
	}
	body = `{"code":0}`
	if err := c.UploadLicenseV4(context.Background(), "LIC"); err != nil {
		t.Errorf("upload: %v", err)
	}
	bad := New(srv.URL, Credentials{Key: "app", Secret: "wrong"}, nil)
	if _, err := bad.NodesV4(context.Background()); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %v", err)
	}
}
