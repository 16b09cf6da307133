package credentials

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
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
