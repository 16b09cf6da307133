package plugins

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheck(t *testing.T) {
	good := tarGz(t, map[string]string{"auth-1.0.0/release.json": `{"name":"auth","rel_vsn":"1.0.0"}`, "auth-1.0.0/auth-1.0.0/ebin/x": ""})
	sum := sha256.Sum256(good)
	goodSHA := hex.EncodeToString(sum[:])
	tests := []struct {
		name, nameVsn, sha string
		pkg                []byte
		reason             string
	}{
		{name: "the plugin it claims to be", nameVsn: "auth-1.0.0", pkg: good},
		{name: "with its checksum", nameVsn: "auth-1.0.0", pkg: good, sha: goodSHA},
		{name: "another checksum", nameVsn: "auth-1.0.0", pkg: good, sha: strings.Repeat("0", 64), reason: ReasonChecksumMismatch},
		{name: "another version than the resource names", nameVsn: "auth-1.0.1", pkg: good, reason: ReasonBadPackage},
		{name: "not gzip", nameVsn: "auth-1.0.0", pkg: []byte("hello"), reason: ReasonBadPackage},
		{name: "no release.json at the top", nameVsn: "auth-1.0.0", pkg: tarGz(t, map[string]string{"auth-1.0.0/sub/release.json": `{"name":"auth","rel_vsn":"1.0.0"}`}), reason: ReasonBadPackage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Check(tt.nameVsn, tt.pkg, tt.sha)
			var pe *PackageError
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.reason != "" && (!errors.As(err, &pe) || pe.Reason != tt.reason):
				t.Fatalf("err = %v, want reason %s", err, tt.reason)
			}
			if tt.reason == "" && got != goodSHA {
				t.Errorf("sha = %s", got)
			}
		})
	}
}

func TestDownloadNeverShowsTheURLsPassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/p.tar.gz"
	_, err := Download(context.Background(), nil, u)
	var pe *PackageError
	if !errors.As(err, &pe) || pe.Reason != ReasonPackageFetch {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "404") {
		t.Errorf("message = %q", err.Error())
	}
}

func TestABadURLNeverShowsItsPassword(t *testing.T) {
	_, err := Download(context.Background(), nil, "https://u:s3cret@host:8x/p.tar.gz")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
}
