package tlscert

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// Served opens a TLS connection to addr and returns the fingerprint of the certificate the
// server presents. It checks what is served, not whether it is trusted: the operator compares the
// fingerprint with the certificate it rolled out.
func Served(ctx context.Context, addr string, timeout time.Duration) (string, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: timeout},
		// The operator verifies the certificate itself (Parse, Validate) before rollout; here it
		// only identifies which certificate the node has loaded.
		Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // identification, not trust
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	state := conn.(*tls.Conn).ConnectionState()
	if len(state.PeerCertificates) == 0 {
		return "", errors.New("the server presented no certificate")
	}
	return Fingerprint(state.PeerCertificates[0].Raw), nil
}
