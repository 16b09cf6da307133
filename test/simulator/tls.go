package simulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PEMCacheInterval is how often OTP's ssl_pem_cache re-validates the PEM files EMQX's TLS
// listeners were configured with (ssl_pem_cache.erl CLEAR_PEM_CACHE, 120000 ms; EMQX does not
// change it). A changed file is read again and used for new handshakes; open connections stay.
const PEMCacheInterval = 2 * time.Minute

// tlsListenerSpec is a TLS listener a pod configures: its port and the files of its ssl_options.
type tlsListenerSpec struct {
	name              string
	port              int
	certFile, keyFile string
}

// tlsListenersOf reads the TLS listeners configured through the environment (the way the
// operator configures them). EMQX's ssl:default (8883) and wss:default (8084) listeners exist by
// default; the simulator serves them when the pod points their ssl_options at files, and the
// dashboard's https listener when its bind is set.
func tlsListenersOf(env map[string]string) []tlsListenerSpec {
	unquote := func(s string) string { return strings.Trim(s, `"`) }
	var out []tlsListenerSpec
	add := func(name, prefix string, port int) {
		cert, key := unquote(env[prefix+"__SSL_OPTIONS__CERTFILE"]), unquote(env[prefix+"__SSL_OPTIONS__KEYFILE"])
		if cert != "" && key != "" {
			out = append(out, tlsListenerSpec{name: name, port: port, certFile: cert, keyFile: key})
		}
	}
	add("ssl:default", "EMQX_LISTENERS__SSL__DEFAULT", 8883)
	add("wss:default", "EMQX_LISTENERS__WSS__DEFAULT", 8084)
	if bind := unquote(env["EMQX_DASHBOARD__LISTENERS__HTTPS__BIND"]); bind != "" && bind != "0" {
		_, portText, err := net.SplitHostPort(bind)
		if err != nil {
			portText = bind
		}
		if port, err := strconv.Atoi(portText); err == nil {
			add("dashboard:https", "EMQX_DASHBOARD__LISTENERS__HTTPS", port)
		}
	}
	return out
}

// tlsListener is one running TLS listener of a node, serving the certificate its files held
// when the PEM cache last read them.
type tlsListener struct {
	spec tlsListenerSpec
	ln   net.Listener

	mu        sync.Mutex
	cert      *tls.Certificate // nil: the files no longer hold a valid pair, handshakes fail
	certPEM   string
	keyPEM    string
	checkedAt time.Time
}

func (l *tlsListener) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cert == nil {
		return nil, errors.New("no valid certificate loaded")
	}
	return l.cert, nil
}

// load replaces the served pair when the files changed; it reports whether they did.
func (l *tlsListener) load(certPEM, keyPEM string, now time.Time) (changed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checkedAt = now
	if certPEM == l.certPEM && keyPEM == l.keyPEM && l.certPEM != "" {
		return false, nil
	}
	l.certPEM, l.keyPEM = certPEM, keyPEM
	kp, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		l.cert = nil // like OTP: the cache entry is gone and the new file does not load
		return true, err
	}
	l.cert = &kp
	return true, nil
}

// openTLS binds a node's TLS listeners on its pod IP from the files its pod mounts; boot serves
// them once the node runs. A listener whose files do not hold a valid pair is not started (EMQX
// logs the failure).
func (s *Simulator) openTLS(ctx context.Context, n *node, p *corev1.Pod) []*tlsListener {
	c := emqxContainer(p)
	if c == nil {
		return nil
	}
	var opened []*tlsListener
	for _, spec := range n.tlsSpecs {
		l := &tlsListener{spec: spec}
		certPEM, keyPEM, err := s.readPair(ctx, p, c, spec)
		if err == nil {
			_, err = l.load(certPEM, keyPEM, time.Now())
		}
		if err != nil {
			s.log.Warn("TLS listener not started", "node", n.name, "listener", spec.name, "error", err)
			continue
		}
		addr := net.JoinHostPort(n.ip, strconv.Itoa(spec.port))
		ln, err := tls.Listen("tcp", addr, &tls.Config{GetCertificate: l.getCertificate, MinVersion: tls.VersionTLS12})
		if err != nil {
			s.log.Warn("TLS listener not started", "node", n.name, "listener", spec.name, "error", err)
			continue
		}
		l.ln = ln
		opened = append(opened, l)
	}
	return opened
}

// serveTLS completes handshakes and closes: the simulator has no MQTT, only what a TLS client
// sees of a listener (the certificate).
func serveTLS(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}()
	}
}

func (s *Simulator) readPair(ctx context.Context, p *corev1.Pod, c *corev1.Container, spec tlsListenerSpec) (string, string, error) {
	certPEM, err := mountedFile(ctx, s.kc, p, c, spec.certFile)
	if err != nil {
		return "", "", fmt.Errorf("certfile: %w", err)
	}
	keyPEM, err := mountedFile(ctx, s.kc, p, c, spec.keyFile)
	if err != nil {
		return "", "", fmt.Errorf("keyfile: %w", err)
	}
	return certPEM, keyPEM, nil
}

// rereadPEMs is OTP's PEM cache check: every PEMCacheInterval each listener's files are read
// again (here from the Secret the pod mounts, as the kubelet presents it) and a changed pair is
// served from then on. Each reload is recorded as a PEM_RELOAD call.
func (s *Simulator) rereadPEMs(ctx context.Context, now time.Time) {
	type due struct {
		node string
		pod  string
		ls   []*tlsListener
	}
	var todo []due
	s.serversMu.Lock()
	for uid, ls := range s.tlsListeners {
		var dueLs []*tlsListener
		for _, l := range ls {
			l.mu.Lock()
			if now.Sub(l.checkedAt) >= s.scaled(PEMCacheInterval) {
				dueLs = append(dueLs, l)
			}
			l.mu.Unlock()
		}
		if len(dueLs) > 0 {
			todo = append(todo, due{pod: uid, ls: dueLs})
		}
	}
	s.serversMu.Unlock()
	for _, d := range todo {
		s.w.mu.Lock()
		n := s.nodeOfPod(d.pod)
		var podKey, name string
		if n != nil {
			podKey, name = n.podKey, n.name
		}
		s.w.mu.Unlock()
		if n == nil {
			continue
		}
		ns, podName, _ := strings.Cut(podKey, "/")
		pod, err := s.kc.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
		if err != nil {
			continue
		}
		c := emqxContainer(pod)
		if c == nil {
			continue
		}
		for _, l := range d.ls {
			certPEM, keyPEM, err := s.readPair(ctx, pod, c, l.spec)
			if err != nil {
				l.mu.Lock()
				l.checkedAt = now
				l.mu.Unlock()
				continue
			}
			changed, err := l.load(certPEM, keyPEM, now)
			if !changed {
				continue
			}
			status := 200
			if err != nil {
				status = 400
				s.log.Warn("PEM reload failed: new handshakes fail", "node", name, "listener", l.spec.name, "error", err)
			}
			s.record(Call{Time: now, Node: name, Method: "PEM_RELOAD", Path: l.spec.name + " " + l.spec.certFile, Status: status})
		}
	}
}
