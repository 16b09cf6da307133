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

// TestUpgradePathGuard: EMQX cannot roll a 5.x cluster with durable sessions to 6.x in place (it
// must be recreated). The image change, made with kubectl, is refused with the rule named and no
// pod moves; a misspelt acceptance and an acceptance that is not a release are clear errors; the
// acceptance naming the target release lets it roll, with a Warning Event.
func TestUpgradePathGuard(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "guard", 1, 0))
	e.Spec.Image = "emqx/emqx-enterprise:5.10.1"
	e.Spec.Config.Data = "durable_sessions.enable = true\n"
	create(t, e)
	env.WaitForCondition(t, ns, "guard", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	pod := env.Pod(t, ns, "guard-core-0").UID

	kubectl(t, "-n", ns, "patch", "emqx", "guard", "--type=merge", "-p", `{"spec":{"image":"emqx/emqx-enterprise:6.1.0"}}`)
	refusedWith(t, ns, "DurableSessionsCannotRollToV6", "recreated from a clean state")
	refusedWith(t, ns, "DurableSessionsCannotRollToV6", "apps.emqx.io/accept-upgrade-path")

	kubectl(t, "-n", ns, "annotate", "emqx", "guard", "apps.emqx.io/accept-upgrade-pat=6.1.0")
	refusedWith(t, ns, "UnknownAnnotation", "did you mean apps.emqx.io/accept-upgrade-path?")

	kubectl(t, "-n", ns, "annotate", "emqx", "guard", "apps.emqx.io/accept-upgrade-pat-", "apps.emqx.io/accept-upgrade-path=yes")
	refusedWith(t, ns, "InvalidUpgradeAcceptance", `"yes", not an EMQX release`)

	// Nothing moved while the change was refused.
	if img := statefulSet(t, ns, "guard-core").Spec.Template.Spec.Containers[0].Image; img != "emqx/emqx-enterprise:5.10.1" {
		t.Fatalf("the core StatefulSet runs %s while the upgrade was refused", img)
	}
	if now := env.Pod(t, ns, "guard-core-0").UID; now != pod {
		t.Fatal("the core pod was replaced while the upgrade was refused")
	}

	kubectl(t, "-n", ns, "annotate", "--overwrite", "emqx", "guard", "apps.emqx.io/accept-upgrade-path=6.1.0")
	harness.Eventually(t, 90*time.Second, "the accepted upgrade rolls", func() error {
		got := env.GetEMQX(t, ns, "guard")
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) || got.Status.EMQXVersion != "6.1.0" {
			return fmt.Errorf("phase %s, version %s", got.Status.Phase, got.Status.EMQXVersion)
		}
		return nil
	})
	if n := len(eventsWithReason(t, ns, "UnsupportedUpgradeAccepted")); n != 1 {
		t.Errorf("%d UnsupportedUpgradeAccepted Warning Events, want 1 (from the pass that changed the image)", n)
	}
}

func kubectl(t *testing.T, args ...string) {
	t.Helper()
	if err := env.Kubectl(args...); err != nil {
		t.Fatal(err)
	}
}

// refusedWith waits for ConfigValid=False with the reason, its message saying says.
func refusedWith(t *testing.T, ns, reason, says string) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, "ConfigValid="+reason, func() error {
		got := env.GetEMQX(t, ns, "guard")
		c := meta.FindStatusCondition(got.Status.Conditions, v2beta1.ConfigValid)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, says) {
			return fmt.Errorf("ConfigValid = %+v", c)
		}
		if r := meta.FindStatusCondition(got.Status.Conditions, v2beta1.Ready); r == nil || r.Reason != reason {
			return fmt.Errorf("Ready = %+v", r)
		}
		return nil
	})
}
