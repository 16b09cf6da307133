package tlscert

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
)

func TestParseAndValidate(t *testing.T) {
	now := time.Now()
	names := []string{"emqx-listeners", "emqx-listeners.ns.svc"}
	good, goodKey := tlscerttest.Valid(names...)
	_, otherKey := tlscerttest.Valid(names...)
	wild, wildKey := tlscerttest.Valid("*.ns.svc", "emqx-listeners")
	expired, expiredKey := tlscerttest.Issue(names, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0))
	future, futureKey := tlscerttest.Issue(names, now.Add(time.Hour), now.AddDate(1, 0, 0))
	narrow, narrowKey := tlscerttest.Valid("emqx-listeners")

	cases := []struct {
		name    string
		data    map[string][]byte
		wantErr string // "" = valid
	}{
		{"valid pair", map[string][]byte{CertKey: good, KeyKey: goodKey}, ""},
		{"wildcard covers the service", map[string][]byte{CertKey: wild, KeyKey: wildKey}, ""},
		{"with a CA bundle", map[string][]byte{CertKey: good, KeyKey: goodKey, CAKey: good}, ""},
		{"key of another certificate", map[string][]byte{CertKey: good, KeyKey: otherKey}, "not a certificate and its key"},
		{"no key", map[string][]byte{CertKey: good}, "needs both tls.crt and tls.key"},
		{"garbage", map[string][]byte{CertKey: []byte("hello"), KeyKey: []byte("world")}, "not a certificate and its key"},
		{"bad CA bundle", map[string][]byte{CertKey: good, KeyKey: goodKey, CAKey: []byte("x")}, "ca.crt is not a PEM"},
		{"expired", map[string][]byte{CertKey: expired, KeyKey: expiredKey}, "expired on"},
		{"not yet valid", map[string][]byte{CertKey: future, KeyKey: futureKey}, "not valid before"},
		{"names not covered", map[string][]byte{CertKey: narrow, KeyKey: narrowKey}, "does not cover emqx-listeners.ns.svc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.data)
			if err == nil {
				err = p.Validate(names, now)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, c.wantErr)
			}
		})
	}
}

func TestFingerprintIdentifiesTheLeaf(t *testing.T) {
	a, ak := tlscerttest.Valid("a")
	b, bk := tlscerttest.Valid("a")
	pa, err := Parse(map[string][]byte{CertKey: a, KeyKey: ak})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Parse(map[string][]byte{CertKey: b, KeyKey: bk})
	if err != nil {
		t.Fatal(err)
	}
	if pa.Fingerprint() == pb.Fingerprint() || len(pa.Fingerprint()) != 64 {
		t.Errorf("fingerprints %s %s", pa.Fingerprint(), pb.Fingerprint())
	}
	if string(pa.CABundle()) != string(a) {
		t.Error("without ca.crt the CA bundle is the chain")
	}
}

func TestServedReportsTheCertificateOnTheWire(t *testing.T) {
	crt, key := tlscerttest.Valid("node")
	kp, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	got, err := Served(context.Background(), ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := Parse(map[string][]byte{CertKey: crt, KeyKey: key})
	if got != p.Fingerprint() {
		t.Errorf("served %s, want %s", got, p.Fingerprint())
	}
	if _, err := Served(context.Background(), "127.0.0.1:1", time.Second); err == nil {
		t.Error("no error from a closed port")
	}
}
