package simulator

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLicenceGraceByRelease(t *testing.T) { // §2 "first wait up to 30 s"
	for version, want := range map[string]time.Duration{
		"5.8.6": 0, "5.9.2": 0, "5.9.3": LicenceGrace, "5.10.4": 0, "5.10.5": LicenceGrace,
		"6.0.1": 0, "6.0.3": 0, "6.0.4": LicenceGrace, "6.1.3": 0, "6.1.4": LicenceGrace,
		"6.2.2": 0, "6.2.3": LicenceGrace, "6.3.0": LicenceGrace, "6.4.0": LicenceGrace,
	} {
		if got := licenceGrace(version); got != want {
			t.Errorf("%s: grace %v, want %v", version, got, want)
		}
	}
}

// TestAutoclusterSkipsThePeerLicenceAndTheJoinerCrashLoops: on the single-node community licence
// (the default key from 5.9), DNS autoclustering joins anyway (no can_i_join), then the joiner's
// licence application fails (SINGLE_NODE_LICENSE): the node stops, stays a member, its pod turns
// unready, and it crashes again after each restart.
func TestAutoclusterSkipsThePeerLicenceAndTheJoinerCrashLoops(t *testing.T) { // §2 "ekka autocluster", "After the join"
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{version: "6.0.3"})
	b := w.pod("core-1", 2, podOpts{version: "6.0.3"})
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) }, "the autocluster join")
	w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "the joiner crashed")
	if w.clusterOf(a) != w.clusterOf(b) {
		t.Error("the crashed joiner left the cluster; it stays a (stopped) member")
	}
	if got := w.podAnnotation("core-1", AnnotationReady); got != "false" {
		t.Errorf("the crashed node's pod is ready=%q, want false", got)
	}
	if w.nodeState(a) != "running" {
		t.Errorf("the first node is %s; it runs alone on the community licence", w.nodeState(a))
	}
	// The container starts again, rejoins, and crashes again.
	w.waitFor(func() bool { return w.nodeState(b) == "running" }, "the restart")
	w.waitFor(func() bool { return w.nodeState(b) == "stopped" }, "the next crash")
}

// TestTheGraceLetsALicenceArrive: a release with the 30 s grace keeps the joiner running while
// it waits; a licence for clustering posted meanwhile (cluster-wide) lets it stay.
func TestTheGraceLetsALicenceArrive(t *testing.T) { // §2 no_violation_within_grace
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{version: "6.1.4"})
	b := w.pod("core-1", 2, podOpts{version: "6.1.4"})
	w.waitFor(func() bool { return w.clusterOf(a) == w.clusterOf(b) }, "the autocluster join")
	key := EncodeTestLicense("Acme", "official", 1000000, time.Now().AddDate(1, 0, 0))
	if got := w.post(1, "/api/v5/license", fmt.Sprintf(`{"key": %q}`, key)); got.status != 200 {
		t.Fatalf("POST /license = %d %s", got.status, got.body)
	}
	time.Sleep(w.sim.scaled(LicenceGrace) + 400*time.Millisecond) // past the grace and a tick
	if w.nodeState(b) != "running" {
		t.Errorf("the joiner is %s after a licence for clustering arrived within the grace", w.nodeState(b))
	}
}

// TestInviteAsksThePeersLicence: the REST invite runs can_i_join on the peer, which refuses while
// it runs the single-node licence.
func TestInviteAsksThePeersLicence(t *testing.T) { // §2 "Joining"
	w := newTestWorld(t)
	a := w.pod("core-0", 1, podOpts{version: "6.1.4"})
	b := "emqx@core-1.emqx-headless.ns.svc.cluster.local"
	if err := w.sim.SetFaults(b, Faults{NeverJoins: true}); err != nil {
		t.Fatal(err)
	}
	w.pod("core-1", 2, podOpts{version: "6.1.4"})
	got := w.call(1, "PUT", "/api/v5/cluster/"+b+"/invite", "application/json", `{"timeout": 15000}`, true)
	wantError(t, got, 400, "BAD_REQUEST", fmt.Sprintf(`"Node %s has a single node license"`, a))
}

func (w *testWorld) podAnnotation(pod, key string) string {
	w.t.Helper()
	p, err := w.kc.CoreV1().Pods("ns").Get(w.ctx, pod, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return p.Annotations[key]
}
