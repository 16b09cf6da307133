// Package tlscert checks a certificate/key pair before the operator rolls it out to EMQX nodes,
// and tells which certificate a node serves. Validation is pure (the clock is an argument), so it
// is unit-tested without a cluster.
package tlscert

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Keys of a kubernetes.io/tls Secret (cert-manager writes the same ones).
const (
	CertKey = "tls.crt"
	KeyKey  = "tls.key"
	CAKey   = "ca.crt"
)

// Pair is a validated certificate chain, its key and an optional CA bundle, as PEM.
type Pair struct {
	Cert, Key, CA []byte
	// Leaf is the first certificate of the chain: the one nodes serve.
	Leaf *x509.Certificate
}

// Fingerprint is the SHA-256 of the leaf certificate, the identity the operator compares with
// what nodes serve.
func (p *Pair) Fingerprint() string { return Fingerprint(p.Leaf.Raw) }

// Fingerprint of a DER certificate, hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// SerialNumber of the leaf, hex.
func (p *Pair) SerialNumber() string { return p.Leaf.SerialNumber.Text(16) }

// Parse reads a Secret's data: tls.crt must hold a certificate chain and tls.key the private key
// of its first certificate.
func Parse(data map[string][]byte) (*Pair, error) {
	crt, key := data[CertKey], data[KeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return nil, fmt.Errorf("the Secret needs both %s and %s", CertKey, KeyKey)
	}
	// X509KeyPair parses both and checks the key belongs to the first certificate.
	kp, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("%s and %s are not a certificate and its key: %s", CertKey, KeyKey, cleanErr(err))
	}
	leaf, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CertKey, err)
	}
	ca := data[CAKey]
	if len(ca) > 0 {
		if block, _ := pem.Decode(ca); block == nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s is not a PEM certificate bundle", CAKey)
		}
	}
	return &Pair{Cert: crt, Key: key, CA: ca, Leaf: leaf}, nil
}

// Validate refuses a certificate that is not valid now or does not cover every name clients use.
func (p *Pair) Validate(names []string, now time.Time) error {
	var errs []error
	if now.After(p.Leaf.NotAfter) {
		errs = append(errs, fmt.Errorf("the certificate expired on %s", p.Leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	if now.Before(p.Leaf.NotBefore) {
		errs = append(errs, fmt.Errorf("the certificate is not valid before %s", p.Leaf.NotBefore.UTC().Format(time.RFC3339)))
	}
	var missing []string
	for _, n := range names {
		if p.Leaf.VerifyHostname(n) != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("the certificate (names %s) does not cover %s",
			strings.Join(p.Names(), ", "), strings.Join(missing, ", ")))
	}
	return errors.Join(errs...)
}

// Names are the DNS names and IP addresses the certificate is for.
func (p *Pair) Names() []string {
	out := append([]string{}, p.Leaf.DNSNames...)
	for _, ip := range p.Leaf.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 && p.Leaf.Subject.CommonName != "" {
		out = append(out, "CN="+p.Leaf.Subject.CommonName)
	}
	return out
}

// CABundle is what the nodes get as cacertfile: the given CA bundle, or the chain itself. EMQX
// needs a readable file there; with verify_none (its default) its content is not used.
func (p *Pair) CABundle() []byte {
	if len(p.CA) > 0 {
		return p.CA
	}
	return p.Cert
}

// cleanErr drops Go's package prefix ("tls: ") so the message reads well in a condition.
func cleanErr(err error) string { return strings.TrimPrefix(err.Error(), "tls: ") }
