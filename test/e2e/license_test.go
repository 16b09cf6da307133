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

// TestLicenseInConfigData: a licence given as license.key in spec.config.data, the way EMQX's and
// the vendor's docs set it, gets LicenseValid and status.license like spec.license's; a new key
// there (changed with kubectl) reaches the running nodes without a restart and shows its expiry in
// status, and one expiring in 5 days raises the expiry warning.
func TestLicenseInConfigData(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "conflic", 2, 0))
	e.Spec.Config.Data = fmt.Sprintf("license.key = %q\n", simulator.EncodeTestLicense("Acme", "official", 1000000, time.Now().AddDate(2, 0, 0)))
	create(t, e)
	env.WaitForCondition(t, ns, "conflic", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	licenceIs(t, ns, "Acme", "", "Valid", "the licence from spec.config.data (license.key) is in use")
	before := restartCounts(t, ns)

	setConfigLicense := func(key string) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"config":{"data":%q}}}`, fmt.Sprintf("license.key = %q\n", key))
		kubectl(t, "-n", ns, "patch", "emqx", "conflic", "--type=merge", "-p", patch)
	}
	setConfigLicense(simulator.EncodeTestLicense("Beta", "official", 2000000, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)))
	licenceIs(t, ns, "Beta", "2099-01-01", "Valid", "")

	soon := time.Now().AddDate(0, 0, 5)
	setConfigLicense(simulator.EncodeTestLicense("Gamma", "official", 2000000, soon))
	licenceIs(t, ns, "Gamma", soon.Format("2006-01-02"), "LicenseExpiringSoon", "(warning at 30 days)")
	harness.Eventually(t, 20*time.Second, "a Warning Event for the licence expiring soon", func() error {
		if len(eventsWithReason(t, ns, "LicenseExpiringSoon")) == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	if now := restartCounts(t, ns); now != before {
		t.Errorf("a licence changed in config.data restarted pods:\n%s\n%s", before, now)
	}
}

// licenceIs waits until status.license shows the customer (and expiry, when given) and
// LicenseValid is True with the reason, its message saying says.
func licenceIs(t *testing.T, ns, customer, expiry string, reason, says string) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, "licence "+customer, func() error {
		st := env.GetEMQX(t, ns, "conflic").Status
		if l := st.License; l == nil || l.Customer != customer || expiry != "" && l.ExpiryAt != expiry {
			return fmt.Errorf("status.license = %+v", l)
		}
		c := meta.FindStatusCondition(st.Conditions, v2beta1.LicenseValid)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != reason || !strings.Contains(c.Message, says) {
			return fmt.Errorf("LicenseValid = %+v", c)
		}
		return nil
	})
}

// TestClusterWithoutLicenceForClustering: EMQX 6.x clusters more than one node only with a licence
// for clustering. Three cores without one are refused before any node starts, with the licence
// named (not a join that never ends); with the evaluation key set in config.data (kubectl) the
// cluster forms.
func TestClusterWithoutLicenceForClustering(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "single", 3, 0))
	e.Spec.Image = "emqx/emqx-enterprise:6.1.0"
	create(t, e)
	harness.Eventually(t, 30*time.Second, "the licence named", func() error {
		st := env.GetEMQX(t, ns, "single").Status
		for _, typ := range []string{v2beta1.Ready, v2beta1.LicenseValid} {
			c := meta.FindStatusCondition(st.Conditions, typ)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "SingleNodeLicense" || !strings.Contains(c.Message, "licence for clustering") {
				return fmt.Errorf("%s = %+v", typ, c)
			}
		}
		return nil
	})
	harness.Eventually(t, 10*time.Second, "a SingleNodeLicense Warning Event", func() error {
		if len(eventsWithReason(t, ns, "SingleNodeLicense")) == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	if got := pods(t, ns); len(got) != 0 {
		t.Errorf("%d pods started for a cluster that cannot form", len(got))
	}

	kubectl(t, "-n", ns, "patch", "emqx", "single", "--type=merge", "-p", `{"spec":{"config":{"data":"license.key = evaluation\n"}}}`)
	env.WaitForCondition(t, ns, "single", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	c := meta.FindStatusCondition(env.GetEMQX(t, ns, "single").Status.Conditions, v2beta1.LicenseValid)
	if c == nil || c.Reason != "EvaluationLicense" || !strings.Contains(c.Message, "at most 25 sessions") {
		t.Errorf("LicenseValid with the evaluation key = %+v", c)
	}

	// The default key in spec.license's Secret is the single-node licence too: refused, nothing
	// of the running cluster touched.
	before := restartCounts(t, ns)
	kubectl(t, "-n", ns, "create", "secret", "generic", "single-licence", "--from-literal=key=default")
	kubectl(t, "-n", ns, "patch", "emqx", "single", "--type=merge", "-p", `{"spec":{"license":{"secretRef":{"secretName":"single-licence","secretKey":"key"}}}}`)
	got := env.WaitForCondition(t, ns, "single", v2beta1.ConfigValid, metav1.ConditionFalse, 30*time.Second)
	if c := meta.FindStatusCondition(got.Status.Conditions, v2beta1.ConfigValid); c.Reason != "SingleNodeLicense" || !strings.Contains(c.Message, `the key given in spec.license is "default"`) {
		t.Errorf("ConfigValid = %s: %s", c.Reason, c.Message)
	}
	if now := restartCounts(t, ns); now != before {
		t.Errorf("pods restarted for a refused licence:\n%s\n%s", before, now)
	}
}
