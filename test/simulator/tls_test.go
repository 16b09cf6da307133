package simulator

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
)

func fingerprintOf(t *testing.T, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

func served(addr string) (string, error) {
	d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test reads what is served
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	sum := sha256.Sum256(c.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:]), nil
}

// TestTLSListenersServeTheMountedFilesAndReRead (§6 ssl_options, certificate file re-read): the
// node serves the pair its pod mounts on 8883 and 8084; a changed pair is served after the PEM
// cache interval, with no restart; a file that is not a valid pair makes new handshakes fail.
func TestTLSListenersServeTheMountedFilesAndReRead(t *testing.T) {
	w := newTestWorld(t)
	a, aKey := tlscerttest.Valid("a")
	w.secret("tls", map[string]string{"tls.crt": string(a), "tls.key": string(aKey)})
	node := w.pod("a-0", 1, podOpts{tlsSecret: "tls"})
	for _, addr := range []string{"127.77.0.1:8883", "127.77.0.1:8084"} { // a running node serves its TLS listeners
		if got, err := served(addr); err != nil || got != fingerprintOf(t, a) {
			t.Fatalf("%s: serving %s (%v), want a", addr, got, err)
		}
	}

	b, bKey := tlscerttest.Valid("b")
	sec, err := w.kc.CoreV1().Secrets("ns").Get(w.ctx, "tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.Data = map[string][]byte{"tls.crt": b, "tls.key": bKey}
	if _, err := w.kc.CoreV1().Secrets("ns").Update(w.ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(func() bool { got, err := served("127.77.0.1:8883"); return err == nil && got == fingerprintOf(t, b) }, "serving b after the re-read")
	if w.nodeState(node) != "running" {
		t.Error("the node restarted")
	}
	reloads := 0
	for _, c := range w.sim.Calls() {
		if c.Method == "PEM_RELOAD" && c.Node == node && c.Status == 200 {
			reloads++
		}
	}
	if reloads != 2 { // ssl:default and wss:default
		t.Errorf("%d PEM reloads recorded, want 2", reloads)
	}

	sec.Data = map[string][]byte{"tls.crt": []byte("garbage"), "tls.key": bKey}
	if _, err := w.kc.CoreV1().Secrets("ns").Update(w.ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(func() bool { _, err := served("127.77.0.1:8883"); return err != nil }, "handshakes failing on an invalid file")
}
