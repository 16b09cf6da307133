package plugins

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"time"
)

// MaxPackageSize bounds what the operator reads into memory for one package; EMQX plugins are a
// few MiB.
const MaxPackageSize = 64 << 20

// PackageError is a package the operator refuses before it reaches EMQX: the user must fix the
// resource or the package, nothing is retried until they do.
type PackageError struct {
	Reason, Message string
}

func (e *PackageError) Error() string { return e.Message }

// Package reasons.
const (
	ReasonChecksumMismatch = "ChecksumMismatch"
	ReasonBadPackage       = "BadPackage"
	ReasonPackageNotFound  = "PackageNotFound"
	ReasonPackageFetch     = "PackageUnreachable"
)

// Check verifies a package before it is installed: its SHA-256 (when one is wanted) and that it is
// the plugin it claims to be: a gzip'd tar whose release.json names nameVsn. EMQX would refuse a
// mismatch only after the install permission was spent. It returns the package's SHA-256.
func Check(nameVsn string, pkg []byte, wantSHA256 string) (string, error) {
	sum := sha256.Sum256(pkg)
	got := hex.EncodeToString(sum[:])
	if wantSHA256 != "" && got != wantSHA256 {
		return got, &PackageError{Reason: ReasonChecksumMismatch,
			Message: fmt.Sprintf("the package's SHA-256 is %s, not %s", got, wantSHA256)}
	}
	rel, err := releaseOf(pkg)
	if err != nil {
		return got, &PackageError{Reason: ReasonBadPackage, Message: "the package is not an EMQX plugin package: " + err.Error()}
	}
	if carried := rel.Name + "-" + rel.RelVsn; carried != nameVsn {
		return got, &PackageError{Reason: ReasonBadPackage,
			Message: fmt.Sprintf("the package is plugin %s (its release.json), not %s", carried, nameVsn)}
	}
	return got, nil
}

type release struct {
	Name   string `json:"name"`
	RelVsn string `json:"rel_vsn"`
}

// releaseOf reads <name-vsn>/release.json from a .tar.gz.
func releaseOf(pkg []byte) (release, error) {
	zr, err := gzip.NewReader(bytes.NewReader(pkg))
	if err != nil {
		return release{}, fmt.Errorf("not gzip: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return release{}, errors.New("no release.json at its top directory")
		}
		if err != nil {
			return release{}, fmt.Errorf("not a tar archive: %w", err)
		}
		if path.Base(h.Name) != "release.json" || path.Dir(path.Clean(h.Name)) == "." || path.Dir(path.Dir(path.Clean(h.Name))) != "." {
			continue
		}
		var rel release
		if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&rel); err != nil {
			return release{}, fmt.Errorf("release.json: %w", err)
		}
		return rel, nil
	}
}

// Download reads a package from an http(s) URL.
func Download(ctx context.Context, hc *http.Client, rawURL string) ([]byte, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		// The parser's error quotes the URL whole, password included: not repeated.
		return nil, &PackageError{Reason: ReasonBadPackage, Message: "spec.package.url is not a valid URL"}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &PackageError{Reason: ReasonPackageFetch, Message: fmt.Sprintf("downloading the package: %v", err)}
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	if resp.StatusCode/100 != 2 {
		return nil, &PackageError{Reason: ReasonPackageFetch, Message: fmt.Sprintf("downloading the package: %s answered %s", req.URL.Redacted(), resp.Status)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPackageSize+1))
	if err != nil {
		return nil, &PackageError{Reason: ReasonPackageFetch, Message: fmt.Sprintf("downloading the package: %v", err)}
	}
	if len(body) > MaxPackageSize {
		return nil, &PackageError{Reason: ReasonBadPackage, Message: fmt.Sprintf("the package is larger than %d MiB", MaxPackageSize>>20)}
	}
	return body, nil
}
