package simulator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
)

// TestARunningNodeAcceptsConnections: the moment the simulator reports a node running, every
// listener it serves accepts connections: the API (18083, or 8081 for EMQX 4) and its TLS
// listeners. Tests and the operator call a node as soon as it runs; a listener bound only after
// the node was published as running made them see "connection refused" under CPU load. The state
// is polled without pausing so that a gap between the two would be seen.
func TestARunningNodeAcceptsConnections(t *testing.T) {
	w := newTestWorld(t)
	crt, key := tlscerttest.Valid("boot")
	w.secret("tls", map[string]string{"tls.crt": string(crt), "tls.key": string(key)})
	w.secret("emqx-ee-license", map[string]string{"emqx.lic": EncodeTestLicense("Acme IoT", "official", 1000000, time.Now().AddDate(1, 0, 0))})
	for i := range 12 {
		ip := 10 + i
		name, ports := fmt.Sprintf("boot-%d", i), []int{18083}
		var node string
		switch i % 3 {
		case 0:
			node = w.createPod(name, ip, podOpts{})
		case 1:
			node = w.createPod(name, ip, podOpts{tlsSecret: "tls"})
			ports = append(ports, 8883, 8084)
		case 2:
			node, ports = w.createPodV4(name, ip), []int{ManagementPortV4}
		}
		deadline := time.Now().Add(10 * time.Second)
		for w.nodeState(node) != "running" {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s running", node)
			}
			runtime.Gosched()
		}
		for _, port := range ports {
			addr := fmt.Sprintf("127.77.0.%d:%d", ip, port)
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("%s runs but %s does not accept connections: %v", node, addr, err)
			}
			_ = c.Close()
		}
	}
	if code, _ := getV4(t, 12, "/status", "", ""); code != 200 {
		t.Errorf("EMQX 4 /status: HTTP %d", code)
	}
	if ans := w.get(10, "/api/v5/nodes"); ans.status != 200 {
		t.Errorf("GET /api/v5/nodes: HTTP %d", ans.status)
	}
}

// TestAStoppedNodeOrSimulatorHoldsNoAddress: a node's listeners are closed when it is reported
// stopped, and every listener is closed when Run returns, including those of nodes still booting
// when it was told to stop; the next node or test world on the same pod IP can bind it at once.
func TestAStoppedNodeOrSimulatorHoldsNoAddress(t *testing.T) {
	kc := fake.NewSimpleClientset()
	ctx, cancel := context.WithCancel(context.Background())
	sim := New(kc, Options{TimeScale: 0.01, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	done := make(chan struct{})
	go func() { _ = sim.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	w := &testWorld{t: t, sim: sim, kc: kc, ctx: ctx}
	w.secret("keys", map[string]string{"bootstrap_api_key": testKey + ":" + testSecret + ":administrator\n"})
	w.secret("cookie", map[string]string{"cookie": "c00kie"})
	crt, key := tlscerttest.Valid("stop")
	w.secret("tls", map[string]string{"tls.crt": string(crt), "tls.key": string(key)})

	canBind := func(addr string) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		return ln.Close()
	}
	node := w.pod("gone-0", 30, podOpts{tlsSecret: "tls"})
	w.deletePod("gone-0")
	w.waitFor(func() bool { return w.nodeState(node) == "stopped" }, node+" stopped")
	for _, port := range []int{18083, 8883, 8084} {
		if err := canBind(fmt.Sprintf("127.77.0.30:%d", port)); err != nil {
			t.Errorf("%s is stopped but holds its address: %v", node, err)
		}
	}

	// Nodes running and nodes booting when the simulator stops.
	for i := range 6 {
		o := podOpts{}
		if i%2 == 1 {
			o.tlsSecret = "tls"
		}
		if i < 3 {
			w.pod(fmt.Sprintf("run-%d", i), 31+i, o)
		} else {
			w.createPod(fmt.Sprintf("run-%d", i), 31+i, o)
		}
	}
	stop()
	sim.serversMu.Lock()
	left := len(sim.servers) + len(sim.tlsListeners)
	sim.serversMu.Unlock()
	if left != 0 {
		t.Errorf("%d nodes still have listeners after Run returned", left)
	}
	for i := range 6 {
		for _, port := range []int{18083, 8883, 8084} {
			if err := canBind(fmt.Sprintf("127.77.0.%d:%d", 31+i, port)); err != nil {
				t.Errorf("after Run returned: %v", err)
			}
		}
	}
}
