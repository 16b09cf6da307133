package status

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func TestMonitoringCondition(t *testing.T) {
	prevRefused := was(v2beta1.MonitoringReady, metav1.ConditionFalse, "ScrapeCredentialsRefused", "EMQX answered 401")
	for _, tc := range []struct {
		name   string
		prev   []metav1.Condition
		wanted bool
		report MonitoringReport
		want   *metav1.Condition // nil: absent
	}{
		{"not asked for: no condition", nil, false, MonitoringReport{}, nil},
		{"asked for, then removed, PodMonitor deleted: the condition goes", []metav1.Condition{prevRefused}, false,
			MonitoringReport{Removed: true}, nil},
		{"asked for, then removed, pass stopped before deleting it: the condition stays for the next pass",
			[]metav1.Condition{prevRefused}, false, MonitoringReport{},
			&metav1.Condition{Status: metav1.ConditionFalse, Reason: "ScrapeCredentialsRefused", Message: "EMQX answered 401"}},
		{"refused credentials: False, and the cluster stays Ready", nil, true,
			MonitoringReport{Observed: true, Reason: "ScrapeCredentialsRefused", Message: "EMQX answered 401"},
			&metav1.Condition{Status: metav1.ConditionFalse, Reason: "ScrapeCredentialsRefused", Message: "EMQX answered 401"}},
		{"accepted: True", []metav1.Condition{prevRefused}, true,
			MonitoringReport{Observed: true, OK: true, Reason: "Scraping", Message: "ok"},
			&metav1.Condition{Status: metav1.ConditionTrue, Reason: "Scraping", Message: "ok"}},
		{"not looked at this pass: the previous condition stays", []metav1.Condition{prevRefused}, true,
			MonitoringReport{},
			&metav1.Condition{Status: metav1.ConditionFalse, Reason: "ScrapeCredentialsRefused", Message: "EMQX answered 401"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(3, 2)
			f.prev = settled()
			f.prev.Conditions = append(f.prev.Conditions, tc.prev...)
			f.p.Monitoring = tc.report
			if tc.wanted {
				f.e.Spec.Monitoring = &v2beta1.Monitoring{PodMonitor: &v2beta1.PodMonitor{}}
			}
			s := f.compute()
			got := meta.FindStatusCondition(s.Conditions, v2beta1.MonitoringReady)
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("MonitoringReady = %+v, want none", got)
			case tc.want != nil && (got == nil || got.Status != tc.want.Status || got.Reason != tc.want.Reason || got.Message != tc.want.Message):
				t.Errorf("MonitoringReady = %+v, want %+v", got, tc.want)
			}
			if !meta.IsStatusConditionTrue(s.Conditions, v2beta1.Ready) {
				t.Errorf("Ready = %+v: monitoring must never hold the cluster", meta.FindStatusCondition(s.Conditions, v2beta1.Ready))
			}
		})
	}
}
