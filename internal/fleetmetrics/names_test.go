package fleetmetrics

import (
	"os"
	"regexp"
	"sort"
	"testing"
)

// The dashboard and the alert rules name only series the operator serves: a renamed metric would
// leave a panel empty and an alert silent without any error.
func TestDashboardAndAlertsNameServedMetrics(t *testing.T) {
	served := map[string]bool{
		"emqx_operator_emqx_api_requests_total":                true,
		"emqx_operator_reconcile_step_duration_seconds_bucket": true,
	}
	for name := range descriptions {
		served[name] = true
	}
	metricName := regexp.MustCompile(`emqx_operator_[a-z_]+`)
	for _, file := range []string{"../../config/grafana/emqx-operator-dashboard.json", "../../config/prometheus/alerts.rules.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		for _, m := range metricName.FindAllString(string(b), -1) {
			found[m] = true
			if !served[m] {
				t.Errorf("%s names %s, which the operator does not serve", file, m)
			}
		}
		if len(found) < 5 {
			names := make([]string, 0, len(found))
			for n := range found {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Errorf("%s: only %v found (is the pattern still right?)", file, names)
		}
	}
}
