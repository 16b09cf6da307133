package validation

import (
	"strings"
	"testing"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func TestLicenseForClustering(t *testing.T) {
	cases := []struct {
		name    string
		image   string
		cores   int32
		config  string
		running string // the licence type EMQX reported before ("" none)
		refused bool
		says    string
	}{
		{"5.8 runs an evaluation licence that clusters", "emqx/emqx-enterprise:5.8.6", 3, "", "", false, ""},
		{"6.1 with one node needs no licence", "emqx/emqx-enterprise:6.1.0", 1, "", "", false, ""},
		{"6.1 with three nodes and no licence", "emqx/emqx-enterprise:6.1.0", 3, "", "", true, "EMQX 6.1.0 clusters more than one node only with a licence for clustering, and no licence is given: the 3 nodes"},
		{"5.10 with the default key spelled out", "emqx/emqx-enterprise:5.10.1", 3, `license.key = "default"`, "", true, `is "default", EMQX's single-node licence`},
		{"a licence in config.data", "emqx/emqx-enterprise:6.1.0", 3, `license.key = "abc"`, "", false, ""},
		{"the evaluation key clusters", "emqx/emqx-enterprise:6.1.0", 3, `license.key = evaluation`, "", false, ""},
		{"a licence posted at runtime and seen by the operator", "emqx/emqx-enterprise:6.1.0", 3, "", "official", false, ""},
		{"a community licence seen running does not help", "emqx/emqx-enterprise:6.1.0", 3, "", "community", true, "no licence is given"},
		{"a custom tag cannot be judged", "emqx/emqx-enterprise:latest", 3, "", "", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEMQX(c.config)
			e.Spec.Image = c.image
			e.Spec.CoreTemplate.Spec.Replicas = &c.cores
			e.Spec.ReplicantTemplate = nil
			if c.running != "" {
				e.Status.License = &v2beta1.LicenseStatus{Type: c.running}
			}
			p := LicenseForClustering(e)
			switch {
			case !c.refused && p != nil:
				t.Fatalf("refused: %v", p)
			case c.refused && (p == nil || p.Reason != "SingleNodeLicense" || !strings.Contains(p.Message, c.says)):
				t.Fatalf("got %v, want SingleNodeLicense saying %q", p, c.says)
			}
		})
	}
}

func TestLicenseSecretForClustering(t *testing.T) {
	cases := []struct {
		name, image, key string
		cores            int32
		refused          bool
	}{
		{"6.1, three nodes, default in the Secret", "emqx/emqx-enterprise:6.1.0", " default\n", 3, true},
		{"6.1, one node, default in the Secret", "emqx/emqx-enterprise:6.1.0", "default", 1, false},
		{"6.1, three nodes, a real key", "emqx/emqx-enterprise:6.1.0", "MjIwMTExCjA=", 3, false},
		{"5.8, three nodes, default", "emqx/emqx-enterprise:5.8.6", "default", 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEMQX("")
			e.Spec.Image = c.image
			e.Spec.CoreTemplate.Spec.Replicas = &c.cores
			e.Spec.ReplicantTemplate = nil
			p := LicenseSecretForClustering(e, c.key)
			if (p != nil) != c.refused {
				t.Fatalf("problem %v, want refused %v", p, c.refused)
			}
			if p != nil && !strings.Contains(p.Message, `the key given in spec.license is "default"`) {
				t.Errorf("message %q", p.Message)
			}
		})
	}
}
