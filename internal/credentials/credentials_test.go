package credentials

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/values"
)

func TestGeneratedSecrets(t *testing.T) {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", UID: "0123abcd-4567-89ef-0000-000000000000"}}
	a, err := Generated(e, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generated(e, rand.Reader)
	if len(a) != 3 {
		t.Fatalf("%d secrets", len(a))
	}
	for i := range a {
		if a[i].Labels[LabelGenerated] != "true" || a[i].Labels[v2beta1.LabelManagedBy] != v2beta1.ManagedByValue {
			t.Errorf("%s labels = %v (the operator's cache only sees labelled Secrets)", a[i].Name, a[i].Labels)
		}
		for k, v := range a[i].Data {
			if k != "username" && k != "key" && bytes.Equal(v, b[i].Data[k]) {
				t.Errorf("%s/%s is not random", a[i].Name, k)
			}
			if bytes.Contains(v, []byte(":")) {
				t.Errorf("%s/%s contains ':' (the bootstrap file separator)", a[i].Name, k)
			}
		}
	}
	if OperatorKeyName(e) != "emqx-operator-0123abcd4567" {
		t.Errorf("operator key name = %s", OperatorKeyName(e))
	}
	f := string(BootstrapFile(e, APIKey{"op", "s1"}, []APIKey{{"u", "s2"}}, nil).Data["bootstrap_api_key"])
	if f != "op:s1:administrator\nu:s2:administrator\n" || strings.Count(f, "\n") != 2 {
		t.Errorf("bootstrap file = %q", f)
	}
	// Prometheus's key can read, never change: the viewer role, after every other key.
	f = string(BootstrapFile(e, APIKey{"op", "s1"}, nil, &APIKey{"prom", "s3"}).Data["bootstrap_api_key"])
	if f != "op:s1:administrator\nprom:s3:viewer\n" {
		t.Errorf("bootstrap file with the scrape key = %q", f)
	}
}

func TestScrapeKeyIsGeneratedOnlyForAPodMonitor(t *testing.T) {
	e := &v2beta1.EMQX{}
	e.Name, e.UID = "c", "0123abcd-4567-89ef"
	without, err := Generated(e, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.Spec.Monitoring = &v2beta1.Monitoring{PodMonitor: &v2beta1.PodMonitor{}}
	with, err := Generated(e, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(with) != len(without)+1 {
		t.Fatalf("%d Secrets with a PodMonitor, %d without: want one more", len(with), len(without))
	}
	s := with[len(with)-1]
	if s.Name != "c-prometheus-api-key" || string(s.Data[ScrapeUsernameKey]) != "prometheus-0123abcd4567" || len(s.Data[ScrapePasswordKey]) < 32 {
		t.Errorf("scrape key Secret %s = %v", s.Name, s.Data)
	}
}

// A deleted operator or scrape key Secret comes back with the secret the running nodes already
// have from the bootstrap file, never a new one they would refuse; the other generated Secrets,
// and keys the bootstrap file does not hold, stay as generated.
func TestRecoverKeepsTheSecretsTheNodesHave(t *testing.T) {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", UID: "0123456789abcdef"}}
	e.Spec.Monitoring = &v2beta1.Monitoring{PodMonitor: &v2beta1.PodMonitor{}}
	fresh := func() []*corev1.Secret {
		g, err := Generated(e, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	op, scrape := APIKey{OperatorKeyName(e), "running-op"}, &APIKey{ScrapeKeyName(e), "running-scrape"}
	bootstrap := BootstrapFile(e, op, []APIKey{{"user", "user-secret"}}, scrape)
	for _, tc := range []struct {
		name      string
		bootstrap *corev1.Secret
		want      map[string]string // Secret → its recovered secret ("" = as generated)
	}{
		{"both keys in the bootstrap file", bootstrap, map[string]string{
			e.OperatorKeySecretName(): "running-op", e.ScrapeKeySecretName(): "running-scrape"}},
		{"no bootstrap Secret yet (a new cluster)", nil, map[string]string{}},
		{"a bootstrap file without the scrape key", BootstrapFile(e, op, nil, nil), map[string]string{
			e.OperatorKeySecretName(): "running-op"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			generated := fresh()
			before := map[string]map[string][]byte{}
			for _, s := range generated {
				before[s.Name] = map[string][]byte{}
				for k, v := range s.Data {
					before[s.Name][k] = v
				}
			}
			got := Recover(e, generated, tc.bootstrap)
			if len(got) != len(tc.want) {
				t.Errorf("recovered %v, want %v", got, tc.want)
			}
			for _, s := range generated {
				field := map[string]string{e.OperatorKeySecretName(): values.OperatorSecretKey, e.ScrapeKeySecretName(): ScrapePasswordKey}[s.Name]
				for k, v := range s.Data {
					want := string(before[s.Name][k])
					if k == field && tc.want[s.Name] != "" {
						want = tc.want[s.Name]
					}
					if string(v) != want {
						t.Errorf("%s %s = %q, want %q", s.Name, k, v, want)
					}
				}
			}
		})
	}
}
