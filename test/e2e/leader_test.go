package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// leaseName is the manager's leader-election Lease (main.go's LeaderElectionID).
const leaseName = "emqx-operator.apps.emqx.io"

// TestLeaderKilledMidRolloutHandsOver: two replicas with leader election, as the shipped
// Deployment can run them. The leader is killed (SIGKILL: it releases nothing) while it replaces
// pods; the standby takes the Lease once it expires (controller-runtime's 15 s), the rollout
// resumes where it was, and no pod is replaced twice.
func TestLeaderKilledMidRolloutHandsOver(t *testing.T) {
	ns := env.NewNamespace(t)
	env.StopOperator()
	defer func() {
		if err := env.StartOperator(); err != nil {
			t.Fatal(err)
		}
	}()
	replicas := map[string]*harness.Manager{}
	for _, name := range []string{"replica-a", "replica-b"} {
		args := append([]string{"--leader-elect=true", "--leader-election-namespace=" + ns, "--metrics-bind-address=0",
			"--health-probe-bind-address=127.0.0.1:0"}, harness.OperatorArgs...)
		m, err := env.StartManager(name, []string{"KUBECONFIG=" + env.Kubeconfig}, args...)
		if err != nil {
			t.Fatal(err)
		}
		replicas[name] = m
		defer m.Stop()
	}
	holder := func() (string, error) {
		out, err := env.KubectlOutput("-n", ns, "get", "lease", leaseName, "-o", "jsonpath={.spec.holderIdentity}")
		return strings.TrimSpace(out), err
	}
	var leaderID string
	harness.Eventually(t, 60*time.Second, "a leader elected", func() error {
		var err error
		if leaderID, err = holder(); err != nil || leaderID == "" {
			return fmt.Errorf("no holder yet (%v)", err)
		}
		return nil
	})
	// The holder identity is <hostname>_<uuid>: which replica holds it shows in its log.
	var leader, standby string
	harness.Eventually(t, 30*time.Second, "the leader's log says so", func() error {
		for name, m := range replicas {
			if strings.Contains(m.Log(), "Successfully acquired lease") {
				leader = name
			} else {
				standby = name
			}
		}
		if leader == "" || standby == "" {
			return fmt.Errorf("leader %q, standby %q", leader, standby)
		}
		return nil
	})

	create(t, fastRollouts(coreReplicantCluster(ns, "ha", 3, 2)))
	env.WaitForCondition(t, ns, "ha", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	// Which pods each name had, sampled every 100 ms: a pod replaced twice shows three. (The
	// ReplacePod Events cannot tell: one sent just before the SIGKILL may be lost.)
	uids := map[string]map[types.UID]string{} // pod name → UID → what the first sample saw of it
	var uidsMu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			pods := &corev1.PodList{}
			ctx, cancel := harness.Ctx()
			err := env.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v2beta1.LabelInstance: "ha"})
			cancel()
			if err == nil {
				uidsMu.Lock()
				for _, p := range pods.Items {
					if uids[p.Name] == nil {
						uids[p.Name] = map[types.UID]string{}
					}
					if _, ok := uids[p.Name][p.UID]; !ok {
						uids[p.Name][p.UID] = describePod(&p)
					}
				}
				uidsMu.Unlock()
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	update(t, ns, "ha", func(e *v2beta1.EMQX) { e.Spec.Image = "emqx/emqx-enterprise:5.8.7" })
	harness.Eventually(t, 60*time.Second, "the first pod replaced", func() error {
		if n := len(eventsWithReason(t, ns, "ReplacePod")); n < 1 {
			return fmt.Errorf("%d replaced", n)
		}
		return nil
	})
	replicas[leader].Kill()
	killed := time.Now()
	harness.Eventually(t, 40*time.Second, "the standby holds the Lease", func() error {
		id, err := holder()
		if err != nil || id == leaderID || id == "" {
			return fmt.Errorf("holder %q (%v)", id, err)
		}
		return nil
	})
	failover := time.Since(killed)
	t.Logf("failover: the standby took the Lease %s after the leader was killed", failover.Round(100*time.Millisecond))
	// The bound from client-go's algorithm: a standby counts the lease (15 s) from when it saw
	// the last renewal, which it reads once per jittered retry (2 s × (1 + 1.2) ≤ 4.4 s), and it
	// tries again once per retry after the expiry: 15 + 4.4 + 4.4, plus API latency and this
	// test's polling on a loaded two-core machine.
	if failover > 27*time.Second {
		t.Errorf("failover took %s, more than the lease (15 s) and two jittered retries (2 × 4.4 s)", failover)
	}
	if !strings.Contains(replicas[standby].Log(), "Successfully acquired lease") {
		t.Errorf("the standby (%s) does not say it took the lease", standby)
	}
	// Ready may hold through a rollout (the cluster serves): done is every node on the new version.
	harness.Eventually(t, 180*time.Second, "the rollout finished by the new leader", func() error {
		got := env.GetEMQX(t, ns, "ha")
		nodes := append(got.Status.CoreNodes, got.Status.ReplicantNodes...)
		if len(nodes) != 5 || !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) {
			return fmt.Errorf("%d nodes, Ready %v", len(nodes), meta.FindStatusCondition(got.Status.Conditions, v2beta1.Ready))
		}
		for _, n := range nodes {
			if n.Version != "5.8.7" || n.NodeStatus != "running" {
				return fmt.Errorf("node %s: %s %s", n.Node, n.Version, n.NodeStatus)
			}
		}
		return nil
	})
	close(stopSampling)
	<-sampled
	uidsMu.Lock()
	defer uidsMu.Unlock()
	if len(uids) != 5 {
		t.Errorf("pods seen: %v, want the 5 nodes' pods", uids)
	}
	for name, seen := range uids {
		if len(seen) != 2 {
			t.Errorf("pod %s existed as %d pods, want 2 (replaced once): %v", name, len(seen), seen)
		}
	}
}

// describePod says when a pod was made, from which revision, and whether it was already going.
func describePod(p *corev1.Pod) string {
	d := fmt.Sprintf("created %s rev %s phase %s", p.CreationTimestamp.Format("15:04:05"),
		p.Labels[appsv1.ControllerRevisionHashLabelKey], p.Status.Phase)
	if p.DeletionTimestamp != nil {
		d += " deleted " + p.DeletionTimestamp.Format("15:04:05")
	}
	return d
}
