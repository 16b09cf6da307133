package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

func setLicenseSecret(t *testing.T, ns, key string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		s := &corev1.Secret{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "emqx-license"}, s)
		if err != nil {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "emqx-license"}, StringData: map[string]string{"key": key}}
			return env.Client.Create(ctx, s)
		}
		s.Data = map[string][]byte{"key": []byte(key)}
		return env.Client.Update(ctx, s)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func restartCounts(t *testing.T, ns string) string {
	var out []string
	for _, p := range pods(t, ns) {
		n := int32(0)
		for _, c := range p.Status.ContainerStatuses {
			n += c.RestartCount
		}
		out = append(out, fmt.Sprintf("%s=%s/%d", p.Name, p.UID, n))
	}
	return strings.Join(out, ",")
}

// TestLicenseRotatesLiveAndBadKeysNeverLand: a new licence key is applied with no pod restarted; a
// key EMQX rejects is never copied where pods read it (also across the file re-read) and the CR
// says so; a licence close to its expiry raises a Warning.
func TestLicenseRotatesLiveAndBadKeysNeverLand(t *testing.T) {
	ns := env.NewNamespace(t)
	setLicenseSecret(t, ns, simulator.EncodeTestLicense("Acme", "official", 1000000, time.Now().AddDate(2, 0, 0)))
	e := fastRollouts(coreReplicantCluster(ns, "lic", 2, 1))
	e.Spec.License = &v2beta1.License{SecretRef: v2beta1.KeyRef{SecretName: "emqx-license", SecretKey: "key"}}
	create(t, e)
	got := env.WaitForCondition(t, ns, "lic", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	if got.Status.License == nil || got.Status.License.Customer != "Acme" || got.Status.License.MaxSessions != 1000000 {
		t.Fatalf("status.license = %+v", got.Status.License)
	}
	before := restartCounts(t, ns)

	setLicenseSecret(t, ns, simulator.EncodeTestLicense("Beta", "official", 2000000, time.Now().AddDate(3, 0, 0)))
	harness.Eventually(t, 30*time.Second, "new licence in use", func() error {
		if l := env.GetEMQX(t, ns, "lic").Status.License; l == nil || l.Customer != "Beta" {
			return fmt.Errorf("licence %+v", l)
		}
		return nil
	})
	if now := restartCounts(t, ns); now != before {
		t.Errorf("licence rotation restarted pods:\n%s\n%s", before, now)
	}
	if len(eventsWithReason(t, ns, "LicenseUpdated")) != 1 {
		t.Error("no LicenseUpdated event")
	}

	setLicenseSecret(t, ns, "this-is-not-a-licence")
	harness.Eventually(t, 30*time.Second, "rejected licence reported", func() error {
		c := meta.FindStatusCondition(env.GetEMQX(t, ns, "lic").Status.Conditions, v2beta1.LicenseValid)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "LicenseRejected" || !strings.Contains(c.Message, "Bad license key") {
			return fmt.Errorf("LicenseValid = %+v", c)
		}
		return nil
	})
	// Past EMQX's file re-read period (2 min, scaled): every node still runs Beta.
	time.Sleep(time.Duration(float64(simulator.LicenseRereadInterval)*0.1) + 3*time.Second)
	ctx, cancel := harness.Ctx()
	defer cancel()
	owned := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lic-license"}, owned); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(owned.Data["license.key"]), "not-a-licence") {
		t.Error("a rejected key was copied into the Secret pods mount")
	}
	if l := env.GetEMQX(t, ns, "lic").Status.License; l == nil || l.Customer != "Beta" {
		t.Errorf("after the file re-read the licence is %+v, want Beta kept", l)
	}
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	reread := false
	for _, c := range calls {
		if c.Method == "REREAD" && strings.Contains(c.Node, ns) {
			reread = true
		}
	}
	if !reread {
		t.Error("the simulated nodes never re-read the licence file in the test's window")
	}

	setLicenseSecret(t, ns, simulator.EncodeTestLicense("Beta", "official", 2000000, time.Now().AddDate(0, 0, 10)))
	harness.Eventually(t, 30*time.Second, "expiring-soon warning", func() error {
		c := meta.FindStatusCondition(env.GetEMQX(t, ns, "lic").Status.Conditions, v2beta1.LicenseValid)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != "LicenseExpiringSoon" {
			return fmt.Errorf("LicenseValid = %+v", c)
		}
		if len(eventsWithReason(t, ns, "LicenseExpiringSoon")) == 0 {
			return fmt.Errorf("no Warning event yet")
		}
		return nil
	})
}
