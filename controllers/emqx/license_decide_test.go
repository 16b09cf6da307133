package emqx

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
	"github.com/broker-ops/emqx-operator/internal/licensing"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// inConfig: a cluster whose licence key is in spec.config.data, as EMQX's docs set it.
func inConfig() *v2beta1.EMQX {
	e := newEMQX("ns", "lic-in-config", 2, 1)
	e.Spec.Config.Data = "license.key = \"abc\"\n"
	return e
}

func licensed(conds ...metav1.Condition) *v2beta1.EMQX {
	e := newEMQX("ns", "lic", 1, 0)
	e.Spec.License = &v2beta1.License{SecretRef: v2beta1.KeyRef{SecretName: "key", SecretKey: "license.key"}, ExpiryWarningDays: 30}
	e.Status.Conditions = conds
	return e
}

// TestDecideLicense: one row per rule of decideLicense, in its order.
func TestDecideLicense(t *testing.T) {
	refused := metav1.Condition{Type: v2beta1.LicenseValid, Status: metav1.ConditionFalse, Reason: pipeline.ReasonLicenseRejected,
		Message: "EMQX rejected the licence key in Secret key (revision " + emqxconf.Revision("new") + "): bad"}
	for _, tc := range []struct {
		name        string
		e           *v2beta1.EMQX
		in          licenseInputs
		write       string
		apply       bool
		wantRefused bool
	}{
		{"a new cluster mounts the user's key (no node to ask)", licensed(), licenseInputs{UserKey: "new", NodesUp: true}, "new", false, false},
		{"an unchanged key stays", licensed(), licenseInputs{UserKey: "k", Mounted: "k", MountedExists: true, NodesUp: true}, "k", false, false},
		{"a changed key waits while no node answers", licensed(), licenseInputs{UserKey: "new", Mounted: "old", MountedExists: true}, "old", false, false},
		{"a changed key goes to the running nodes first; pods keep the old one", licensed(),
			licenseInputs{UserKey: "new", Mounted: "old", MountedExists: true, NodesUp: true}, "old", true, false},
		{"a key EMQX refused is not sent again", licensed(refused),
			licenseInputs{UserKey: "new", Mounted: "old", MountedExists: true, NodesUp: true}, "old", false, true},
		{"a refusal of another revision does not hold a new key", licensed(refused),
			licenseInputs{UserKey: "newer", Mounted: "old", MountedExists: true, NodesUp: true}, "old", true, false},
	} {
		d := decideLicense(tc.e, tc.in)
		if d.Write != tc.write || d.Apply != tc.apply || (d.Refused != nil) != tc.wantRefused || d.Revision != emqxconf.Revision(tc.in.UserKey) {
			t.Errorf("%s: %+v", tc.name, d)
		}
	}
}

// TestJudgeLicense: the running licence's report, and when it warns.
func TestJudgeLicense(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	running := func(expiry string, expired bool) emqxapi.License {
		return emqxapi.License{Customer: "c", Type: "official", MaxSessions: 1000, ExpiryAt: expiry, Expiry: expired}
	}
	for _, tc := range []struct {
		name             string
		e                *v2beta1.EMQX
		l                emqxapi.License
		found            status.LicenseReport
		reason, okReason string
		msg              string
	}{
		{"valid for long: no warning", licensed(), running("2028-01-01", false), status.LicenseReport{}, "", "", ""},
		{"expiring within the warning days", licensed(), running("2026-12-20", false), status.LicenseReport{}, "", pipeline.ReasonLicenseExpiringSoon, "in 16 days"},
		{"expired", licensed(), running("2026-11-01", true), status.LicenseReport{}, "LicenseExpired", "", "expired on 2026-11-01"},
		{"a refused key found this pass stands", licensed(), running("2026-11-01", true),
			status.LicenseReport{Reason: pipeline.ReasonLicenseRejected, Message: "refused"}, pipeline.ReasonLicenseRejected, "", "refused"},
		{"without a licence given nothing is judged", newEMQX("ns", "nolic", 1, 0), running("2026-11-01", true), status.LicenseReport{}, "", "", ""},
		{"a licence in config.data is judged, warned 30 days ahead", inConfig(), running("2026-12-09", false), status.LicenseReport{},
			"", pipeline.ReasonLicenseExpiringSoon, "in 5 days (warning at 30 days)"},
		{"a community licence for a cluster of nodes is refused", inConfig(), emqxapi.License{Type: "community", ExpiryAt: "2029-03-01", MaxSessions: 1000},
			status.LicenseReport{}, licensing.ReasonSingleNode, "", "single-node community licence: a cluster of 3 nodes"},
		{"the evaluation key is noted", inConfig(), emqxapi.License{Type: "trial", ExpiryAt: "2029-03-01", MaxSessions: 25},
			status.LicenseReport{}, "", licensing.ReasonEvaluation, "at most 25 sessions"},
		{"a trial of more sessions is not the evaluation key", inConfig(), emqxapi.License{Type: "trial", ExpiryAt: "2029-03-01", MaxSessions: 1000},
			status.LicenseReport{}, "", "", ""},
		{"a licence in config.data that expired", inConfig(), running("2026-11-01", true), status.LicenseReport{}, "LicenseExpired", "", "expired on 2026-11-01"},
	} {
		rep := judgeLicense(tc.e, tc.l, "mounted", tc.found, now)
		if !rep.Observed || rep.Running == nil || rep.Running.Revision != emqxconf.Revision("mounted") || rep.Running.MaxSessions != max(tc.l.MaxSessions, tc.l.MaxConns) {
			t.Errorf("%s: running licence not reported: %+v", tc.name, rep.Running)
		}
		if rep.Reason != tc.reason || rep.OKReason != tc.okReason || !strings.Contains(rep.Message, tc.msg) {
			t.Errorf("%s: %+v", tc.name, rep)
		}
	}
}
