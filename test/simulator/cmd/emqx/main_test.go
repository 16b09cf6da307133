package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestCtlGoesToTheSimulatorAndKeepsItsExitCode(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Args []string `json:"args"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		got = body.Args
		_, _ = w.Write([]byte(`{"output":"Usage:\n","exitCode":3}`))
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run([]string{"ctl", "plugins", "allow", "foo-1.0"}, srv.URL, &out, &errOut)
	if code != 3 || out.String() != "Usage:\n" || !slices.Equal(got, []string{"plugins", "allow", "foo-1.0"}) {
		t.Errorf("exit %d, stdout %q, sent %v", code, out.String(), got)
	}
}

func TestOnlyCtlIsSimulatedAndTheURLIsNeeded(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"eval", "1"}, "http://127.0.0.1:1/x", &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "only `emqx ctl` is simulated") {
		t.Errorf("emqx eval: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"ctl", "plugins", "list"}, "", &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "EMQX_SIM_CTL_URL") {
		t.Errorf("without the URL: exit %d, stderr %q", code, errOut.String())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"code":"NOT_FOUND"}`, http.StatusNotFound)
	}))
	defer srv.Close()
	errOut.Reset()
	if code := run([]string{"ctl", "plugins", "list"}, srv.URL, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "404") {
		t.Errorf("unknown node: exit %d, stderr %q", code, errOut.String())
	}
}
