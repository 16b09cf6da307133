// Package s3server is an S3-compatible object store for tests: gofakes3 with an in-memory
// backend, behind AWS Signature V4 checking (gofakes3 accepts any signature), on a loopback
// address. Wrong access keys and wrong secrets are refused as S3 refuses them.
package s3server

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Server is a running store.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:<port>.
	URL     string
	Backend gofakes3.Backend
	srv     *http.Server
	ln      net.Listener
}

// Start serves a store on addr (e.g. "127.0.0.1:0") accepting only the given access key and
// secret. Buckets are made with CreateBucket.
func Start(addr, accessKey, secretKey string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	be := s3mem.New()
	faker := gofakes3.New(be, gofakes3.WithoutVersioning())
	s := &Server{URL: "http://" + ln.Addr().String(), Backend: be, ln: ln}
	s.srv = &http.Server{Handler: sigV4{keys: map[string]string{accessKey: secretKey}, next: faker.Server()},
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// CreateBucket makes a bucket.
func (s *Server) CreateBucket(name string) error { return s.Backend.CreateBucket(name) }

// Object reads an object's content (nil if there is none).
func (s *Server) Object(bucket, key string) []byte {
	obj, err := s.Backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil
	}
	defer obj.Contents.Close() //nolint:errcheck
	b, _ := io.ReadAll(obj.Contents)
	return b
}

// Keys lists a bucket's object keys, sorted.
func (s *Server) Keys(bucket string) []string {
	list, err := s.Backend.ListBucket(bucket, &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		return nil
	}
	var keys []string
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	sort.Strings(keys)
	return keys
}

// Close stops the store.
func (s *Server) Close() { _ = s.srv.Close() }

// sigV4 checks AWS Signature V4 headers before passing a request on.
type sigV4 struct {
	keys map[string]string
	next http.Handler
}

func (v sigV4) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if code, msg := v.check(r); code != "" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
		return
	}
	if r.Header.Get("X-Amz-Content-Sha256") == streamingPayload {
		// gofakes3 decodes aws-chunked bodies for single PUTs only, not for multipart parts:
		// decode here, for every request.
		body, err := decodeChunked(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		r.Header.Del("X-Amz-Decoded-Content-Length")
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	v.next.ServeHTTP(w, r)
}

const streamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

// decodeChunked reads an aws-chunked body: "<hex size>;chunk-signature=<sig>\r\n<data>\r\n"
// repeated, ending with a chunk of size 0.
func decodeChunked(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: chunk header %q", line)
		}
		if size == 0 {
			return out, nil
		}
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		out = append(out, chunk[:size]...)
	}
}

func (v sigV4) check(r *http.Request) (code, msg string) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return "AccessDenied", "Access Denied"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		if k, val, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			fields[k] = val
		}
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 {
		return "AuthorizationHeaderMalformed", "bad Credential"
	}
	secret, ok := v.keys[cred[0]]
	if !ok {
		return "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
	}
	date, region, service := cred[1], cred[2], cred[3]
	signed := strings.Split(fields["SignedHeaders"], ";")
	var canon strings.Builder
	for _, h := range signed {
		val := strings.Join(r.Header.Values(h), ",")
		if h == "host" {
			val = r.Host
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(val), " ") + "\n")
	}
	canonicalRequest := strings.Join([]string{r.Method, s3utils.EncodePath(r.URL.Path),
		strings.ReplaceAll(r.URL.Query().Encode(), "+", "%20"), canon.String(), fields["SignedHeaders"],
		r.Header.Get("X-Amz-Content-Sha256")}, "\n")
	scope := strings.Join([]string{date, region, service, "aws4_request"}, "/")
	sum := sha256.Sum256([]byte(canonicalRequest))
	toSign := "AWS4-HMAC-SHA256\n" + r.Header.Get("X-Amz-Date") + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + secret)
	for _, p := range []string{date, region, service, "aws4_request"} {
		key = hmacSHA256(key, p)
	}
	if hex.EncodeToString(hmacSHA256(key, toSign)) != fields["Signature"] {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// ClosedAddress is a loopback address nothing listens on (for "store unreachable" tests).
func ClosedAddress(t interface{ Fatal(...any) }) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
