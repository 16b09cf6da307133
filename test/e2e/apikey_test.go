package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/values"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// TestDeletedAPIKeySecretComesBackWithoutAnOutage: the Secret holding the operator's API key is
// deleted by hand while the cluster runs (emqx/emqx-operator#1268: 401s for ever there). It comes
// back with the same secret, which every node still has from its bootstrap file: no node refuses
// the operator, no pod restarts, and a change made afterwards still reaches the cluster.
func TestDeletedAPIKeySecretComesBackWithoutAnOutage(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, fastRollouts(coreReplicantCluster(ns, "key", 2, 1)))
	env.WaitForCondition(t, ns, "key", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	secret := "key-operator-api-key"
	before := secretValue(t, ns, secret, values.OperatorSecretKey)
	uids := podUIDs(t, ns)
	deleted := time.Now()
	kubectl(t, "-n", ns, "delete", "secret", secret)
	harness.Eventually(t, 30*time.Second, "the key Secret back", func() error {
		out, err := env.KubectlOutput("-n", ns, "get", "secret", secret, "-o", "name")
		if err != nil || strings.TrimSpace(out) == "" {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})
	if after := secretValue(t, ns, secret, values.OperatorSecretKey); after != before {
		t.Errorf("the key Secret came back with a new secret: the running nodes would refuse it")
	}
	// A change after the deletion still reaches the cluster through the API.
	update(t, ns, "key", func(e *v2beta1.EMQX) { e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To[int32](2) })
	harness.Eventually(t, 60*time.Second, "scaled out and Ready", func() error {
		got := env.GetEMQX(t, ns, "key")
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) || len(got.Status.ReplicantNodes) != 2 {
			return fmt.Errorf("%d replicants, Ready %v", len(got.Status.ReplicantNodes), meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready))
		}
		return nil
	})
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.Status == 401 && c.Time.After(deleted) && strings.Contains(c.Node, ns) {
			t.Errorf("%s %s on %s answered 401 after the key Secret was deleted", c.Method, c.Path, c.Node)
		}
	}
	for _, uid := range strings.Split(uids, ",") {
		if !strings.Contains(podUIDs(t, ns), uid) {
			t.Errorf("pod %s was replaced: the key's return restarted pods", uid)
		}
	}
}
