package emqx

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
	"github.com/broker-ops/emqx-operator/internal/tlscert"
	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// TestDecideTLS: one row per branch of decideTLS.
func TestDecideTLS(t *testing.T) {
	e := newEMQX("ns", "tls", 1, 0)
	e.Spec.TLS = &v2beta1.TLS{SecretName: "mqtt-tls"}
	names := e.TLSDNSNames()
	source := func(crt, key []byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mqtt-tls"}, Data: map[string][]byte{"tls.crt": crt, "tls.key": key}}
	}
	// pair is what the operator's TLS Secret holds: the pair and the CA bundle it wrote.
	pair := func(crt, key []byte) *tlscert.Pair {
		p, err := tlscert.Parse(map[string][]byte{"tls.crt": crt, "tls.key": key})
		if err == nil {
			p, err = tlscert.Parse(map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": p.CABundle()})
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldCrt, oldKey := tlscerttest.Valid(names...)
	newCrt, newKey := tlscerttest.Valid(names...)
	narrowCrt, narrowKey := tlscerttest.Valid("elsewhere.example.com")
	withCertManager := e.DeepCopy()
	withCertManager.Spec.TLS = &v2beta1.TLS{CertManager: &v2beta1.CertManagerCertificate{IssuerRef: v2beta1.IssuerRef{Name: "ca"}}}
	for _, tc := range []struct {
		name                   string
		e                      *v2beta1.EMQX
		in                     tlsInputs
		rotating, event, wait  bool
		refused, problemReason string
		inUse                  []byte
	}{
		{"a first valid pair is rolled out", e, tlsInputs{Source: source(newCrt, newKey)}, true, false, false, "", "", newCrt},
		{"a new valid pair replaces the one in use, announced", e, tlsInputs{Current: pair(oldCrt, oldKey), Source: source(newCrt, newKey)}, true, true, false, "", "", newCrt},
		{"the same pair is not a rotation", e, tlsInputs{Current: pair(oldCrt, oldKey), Source: source(oldCrt, oldKey)}, false, false, false, "", "", oldCrt},
		{"an invalid source is refused and the pair in use stays", e, tlsInputs{Current: pair(oldCrt, oldKey), Source: source(narrowCrt, narrowKey)}, false, false, false, "Secret mqtt-tls:", "", oldCrt},
		{"a deleted source is refused and the pair in use stays", e, tlsInputs{Current: pair(oldCrt, oldKey)}, false, false, false, "Secret mqtt-tls not found", "", oldCrt},
		{"cert-manager has not issued yet: wait", withCertManager, tlsInputs{}, false, false, true, "", "", nil},
		{"no source and none coming: a spec problem", e, tlsInputs{}, false, false, false, "", validation.ReasonSecretNotFound, nil},
		{"an invalid first source: a spec problem", e, tlsInputs{Source: source(newCrt, narrowKey)}, false, false, false, "", pipeline.ReasonCertificateInvalid, nil},
	} {
		d := decideTLS(tc.e, tc.in, time.Now())
		gotProblem := ""
		if d.Problem != nil {
			gotProblem = d.Problem.Reason
		}
		var inUse []byte
		if d.InUse != nil {
			inUse = d.InUse.Cert
		}
		if d.Rotating != tc.rotating || (d.RotationEvent != "") != tc.event || d.Wait != tc.wait || gotProblem != tc.problemReason ||
			(tc.refused == "") != (d.Refused == "") || !strings.Contains(d.Refused, tc.refused) || string(inUse) != string(tc.inUse) {
			t.Errorf("%s: rotating %v event %q wait %v refused %q problem %q", tc.name, d.Rotating, d.RotationEvent, d.Wait, d.Refused, gotProblem)
		}
	}
}

// TestDecideConfig: one row per branch of decideConfig.
func TestDecideConfig(t *testing.T) {
	e := newEMQX("ns", "conf", 1, 0)
	e.Spec.Config.Data = "mqtt.max_packet_size = 2MB"
	text := values.EMQXConf(e)
	rev := emqxconf.Revision(text)
	applied := e.DeepCopy()
	applied.Status.AppliedConfigRevision = rev
	refused := e.DeepCopy()
	refused.Status.AppliedConfigRevision = "old"
	refused.Status.Conditions = []metav1.Condition{{Type: v2beta1.ConfigValid, Status: metav1.ConditionFalse,
		Reason: pipeline.ReasonConfigRejected, Message: "EMQX rejected spec.config.data (revision " + rev + ")"}}
	for _, tc := range []struct {
		name                    string
		e                       *v2beta1.EMQX
		in                      configInputs
		pending, rejected, held bool
		appliedRevision         string
	}{
		{"accepted before: nothing to do", applied, configInputs{Live: "old", LiveExists: true, NodesUp: true}, false, false, false, rev},
		{"a new cluster gets the file directly", e, configInputs{NodesUp: true}, false, false, false, ""},
		{"nodes started with this text: it is what they run", e, configInputs{Live: text, LiveExists: true, NodesUp: true}, false, false, false, rev},
		{"the same text, no node answering: not known yet", e, configInputs{Live: text, LiveExists: true}, false, false, false, ""},
		{"a change goes to the running nodes first; the file holds the old text", e, configInputs{Live: "old", LiveExists: true, NodesUp: true}, true, false, true, ""},
		{"a change while no node answers: the file gets it", e, configInputs{Live: "old", LiveExists: true}, false, false, false, ""},
		{"a revision EMQX refused is not sent again", refused, configInputs{Live: "old", LiveExists: true, NodesUp: true}, true, true, true, "old"},
	} {
		c, rep := decideConfig(tc.e, tc.in)
		if c.Revision != rev || c.Pending != tc.pending || c.Rejected != tc.rejected || (c.Hold != nil) != tc.held || rep.AppliedRevision != tc.appliedRevision {
			t.Errorf("%s: %+v, applied %q", tc.name, c, rep.AppliedRevision)
		}
	}
}
