package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/tlscert"
	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

func setTLSSecret(t *testing.T, ns, name string, crt, key []byte, labels map[string]string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		s := &corev1.Secret{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); apierrors.IsNotFound(err) {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{"tls.crt": crt, "tls.key": key}}
			return env.Client.Create(ctx, s)
		} else if err != nil {
			return err
		}
		s.Data = map[string][]byte{"tls.crt": crt, "tls.key": key}
		return env.Client.Update(ctx, s)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fingerprint(t *testing.T, crt, key []byte) string {
	t.Helper()
	p, err := tlscert.Parse(map[string][]byte{"tls.crt": crt, "tls.key": key})
	if err != nil {
		t.Fatal(err)
	}
	return p.Fingerprint()
}

// servedEverywhere checks by TLS handshake that every pod's MQTT (8883) and WSS (8084) listener
// serves the certificate want.
func servedEverywhere(t *testing.T, ns, want string) error {
	ps := pods(t, ns)
	if len(ps) == 0 {
		return fmt.Errorf("no pods")
	}
	for _, p := range ps {
		for _, port := range []string{"8883", "8084"} {
			ctx, cancel := harness.Ctx()
			got, err := tlscert.Served(ctx, net.JoinHostPort(p.Status.PodIP, port), 2*time.Second)
			cancel()
			if err != nil {
				return fmt.Errorf("%s:%s: %w", p.Name, port, err)
			}
			if got != want {
				return fmt.Errorf("%s:%s serves %s…, want %s…", p.Name, port, got[:12], want[:12])
			}
		}
	}
	return nil
}

// TestTLSRotatesLiveAndBadPairsNeverLand: on a 3-node cluster the listeners serve the certificate
// of the user's Secret; a new certificate is served by every node (checked by handshakes) with no
// pod restarted; a pair that does not validate is refused with a clear condition and the old
// certificate stays served, also after the nodes re-read their certificate files.
func TestTLSRotatesLiveAndBadPairsNeverLand(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "tls", 2, 1))
	names := []string{"tls-listeners", "tls-listeners." + ns, "tls-listeners." + ns + ".svc"}
	e.Spec.TLS = &v2beta1.TLS{SecretName: "mqtt-tls", DNSNames: names}
	a, aKey := tlscerttest.Valid(names...)
	setTLSSecret(t, ns, "mqtt-tls", a, aKey, nil)
	create(t, e)
	env.WaitForCondition(t, ns, "tls", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	got := env.WaitForCondition(t, ns, "tls", v2beta1.TLSCertificateReady, metav1.ConditionTrue, 30*time.Second)
	if got.Status.TLS == nil || got.Status.TLS.Fingerprint != fingerprint(t, a, aKey) || got.Status.TLS.NotAfter == nil ||
		got.Status.TLS.NodesServing != "3/3" {
		t.Fatalf("status.tls = %+v", got.Status.TLS)
	}
	if err := servedEverywhere(t, ns, fingerprint(t, a, aKey)); err != nil {
		t.Fatal(err)
	}
	before := restartCounts(t, ns)

	start := time.Now()
	b, bKey := tlscerttest.Valid(names...)
	setTLSSecret(t, ns, "mqtt-tls", b, bKey, nil)
	harness.Eventually(t, 60*time.Second, "every node serving the rotated certificate", func() error {
		return servedEverywhere(t, ns, fingerprint(t, b, bKey))
	})
	t.Logf("rotation served by every node after %s (EMQX's 2-minute PEM re-read at time scale 0.1)", time.Since(start).Round(time.Second))
	harness.Eventually(t, 30*time.Second, "status confirming the rotation", func() error {
		got := env.GetEMQX(t, ns, "tls")
		c := meta.FindStatusCondition(got.Status.Conditions, v2beta1.TLSCertificateReady)
		if got.Status.TLS == nil || got.Status.TLS.Fingerprint != fingerprint(t, b, bKey) || c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("status.tls = %+v, condition %+v", got.Status.TLS, c)
		}
		return nil
	})
	if now := restartCounts(t, ns); now != before {
		t.Errorf("the rotation restarted pods:\n%s\n%s", before, now)
	}
	if len(eventsWithReason(t, ns, "CertificateRotating")) == 0 {
		t.Error("no CertificateRotating event")
	}
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	reloads := 0
	for _, c := range calls {
		if c.Method == "PEM_RELOAD" && strings.Contains(c.Node, ns) && c.Status == 200 {
			reloads++
		}
	}
	if reloads < 6 { // 3 nodes × ssl:default and wss:default
		t.Errorf("%d PEM reloads recorded by the simulator, want 6", reloads)
	}

	// A key that belongs to another certificate: refused, never copied where the pods read.
	_, otherKey := tlscerttest.Valid(names...)
	c, _ := tlscerttest.Valid(names...)
	setTLSSecret(t, ns, "mqtt-tls", c, otherKey, nil)
	harness.Eventually(t, 30*time.Second, "the bad pair refused", func() error {
		c := meta.FindStatusCondition(env.GetEMQX(t, ns, "tls").Status.Conditions, v2beta1.TLSCertificateReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "CertificateInvalid" ||
			!strings.Contains(c.Message, "not a certificate and its key") || !strings.Contains(c.Message, "keep serving") {
			return fmt.Errorf("TLSCertificateReady = %+v", c)
		}
		return nil
	})
	// Past a PEM re-read (2 min at time scale 0.1) every node still serves b.
	time.Sleep(time.Duration(float64(simulator.PEMCacheInterval)*0.1) + 3*time.Second)
	if err := servedEverywhere(t, ns, fingerprint(t, b, bKey)); err != nil {
		t.Errorf("after the bad pair: %v", err)
	}
	if len(eventsWithReason(t, ns, "CertificateInvalid")) != 1 {
		t.Errorf("want exactly one CertificateInvalid Warning event")
	}

	// An expired certificate is refused too.
	old, oldKey := tlscerttest.Issue(names, time.Now().AddDate(-1, 0, 0), time.Now().Add(-time.Hour))
	setTLSSecret(t, ns, "mqtt-tls", old, oldKey, nil)
	harness.Eventually(t, 30*time.Second, "the expired certificate refused", func() error {
		c := meta.FindStatusCondition(env.GetEMQX(t, ns, "tls").Status.Conditions, v2beta1.TLSCertificateReady)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "expired") {
			return fmt.Errorf("TLSCertificateReady = %+v", c)
		}
		return nil
	})
	if now := restartCounts(t, ns); now != before {
		t.Errorf("refusing certificates restarted pods:\n%s\n%s", before, now)
	}
}

func installCertManagerCRD(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("testdata/cert-manager-certificates-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := env.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the Certificate CRD established", func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("cert-manager.io/v1")
		list.SetKind("CertificateList")
		return env.Client.List(ctx, list)
	})
}

// TestTLSFromCertManager: with tls.certManager the operator creates a Certificate (owned by the
// cluster, DNS names from the listeners Service) and waits for it; once "cert-manager" (the test)
// issues the Secret, the cluster starts and every node serves that certificate.
func TestTLSFromCertManager(t *testing.T) {
	installCertManagerCRD(t)
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "cm", 1, 0))
	e.Spec.ReplicantTemplate = nil
	e.Spec.TLS = &v2beta1.TLS{CertManager: &v2beta1.CertManagerCertificate{
		IssuerRef: v2beta1.IssuerRef{Name: "ca-issuer", Kind: "ClusterIssuer"}}}
	create(t, e)

	cert := &unstructured.Unstructured{}
	cert.SetAPIVersion("cert-manager.io/v1")
	cert.SetKind("Certificate")
	harness.Eventually(t, 30*time.Second, "the Certificate created", func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cm-tls"}, cert)
	})
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	labels, _, _ := unstructured.NestedStringMap(cert.Object, "spec", "secretTemplate", "labels")
	want := []string{"cm-listeners", "cm-listeners." + ns, "cm-listeners." + ns + ".svc", "cm-listeners." + ns + ".svc.cluster.local"}
	if secretName != "cm-tls-issued" || strings.Join(dnsNames, ",") != strings.Join(want, ",") || issuer != "ca-issuer" {
		t.Errorf("Certificate spec = %v", cert.Object["spec"])
	}
	if refs := cert.GetOwnerReferences(); len(refs) != 1 || refs[0].Kind != "EMQX" || refs[0].Name != "cm" {
		t.Errorf("Certificate owner references = %+v", refs)
	}
	c := env.WaitForCondition(t, ns, "cm", v2beta1.TLSCertificateReady, metav1.ConditionFalse, 30*time.Second)
	if cond := meta.FindStatusCondition(c.Status.Conditions, v2beta1.TLSCertificateReady); cond.Reason != "WaitingForCertificate" {
		t.Errorf("TLSCertificateReady = %+v", cond)
	}
	if len(pods(t, ns)) != 0 {
		t.Error("pods were created before there was a certificate to mount")
	}

	// Play cert-manager: issue the certificate into the Secret the Certificate names.
	crt, key := tlscerttest.Valid(dnsNames...)
	setTLSSecret(t, ns, secretName, crt, key, labels)
	env.WaitForCondition(t, ns, "cm", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	env.WaitForCondition(t, ns, "cm", v2beta1.TLSCertificateReady, metav1.ConditionTrue, 30*time.Second)
	if err := servedEverywhere(t, ns, fingerprint(t, crt, key)); err != nil {
		t.Fatal(err)
	}
}
