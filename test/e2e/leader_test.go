package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
	// The bound from client-go's algorithm: the lease lasts 15 s after the leader's last renewal
	// (at most 2 s before the kill), and a standby tries every 2 s with a jitter factor of 1.2
	// (≤ 4.4 s): 15 + 4.4, plus up to 2.6 s of API latency on a loaded two-core machine.
	if failover > 22*time.Second {
		t.Errorf("failover took %s, more than the lease (15 s) and one jittered retry (4.4 s)", failover)
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
	if n := len(eventsWithReason(t, ns, "ReplacePod")); n != 5 {
		t.Errorf("%d pods replaced for 5 nodes: a step was done twice or skipped", n)
	}
}
