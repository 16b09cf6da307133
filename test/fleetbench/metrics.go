// Package fleetbench measures and reports `make bench-scale` (test/e2e/benchscale drives it):
// the operator's metrics, the control plane's CPU, and the figures' medians and spreads.
package fleetbench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// OperatorMetrics is one scrape of the operator's own metrics endpoint.
type OperatorMetrics struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	RSSBytes   float64 `json:"rssBytes"`
	// Requests: the operator's requests to the Kubernetes API by verb (client-go's counter).
	Requests map[string]float64 `json:"requests"`
	// Reconciles by controller (one per kind), all results together.
	Reconciles map[string]float64 `json:"reconciles"`
	// StepSeconds: time spent in each named step, "Kind/step".
	StepSeconds map[string]float64 `json:"stepSeconds"`
}

// ScrapeOperator reads the operator's metrics endpoint (plain HTTP: the benchmark runs it with
// --metrics-secure=false on loopback).
func ScrapeOperator(addr string) (OperatorMetrics, error) {
	m := OperatorMetrics{Requests: map[string]float64{}, Reconciles: map[string]float64{}, StepSeconds: map[string]float64{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return m, fmt.Errorf("parsing the operator's metrics: %w", err)
	}
	m.CPUSeconds = sum(families["process_cpu_seconds_total"])
	m.RSSBytes = sum(families["process_resident_memory_bytes"])
	for _, metric := range families["rest_client_requests_total"].GetMetric() {
		m.Requests[label(metric, "method")] += value(metric)
	}
	for _, metric := range families["controller_runtime_reconcile_total"].GetMetric() {
		m.Reconciles[label(metric, "controller")] += value(metric)
	}
	for _, metric := range families["emqx_operator_reconcile_step_duration_seconds"].GetMetric() {
		m.StepSeconds[label(metric, "kind")+"/"+label(metric, "step")] += metric.GetHistogram().GetSampleSum()
	}
	return m, nil
}

// Minus is what happened between two scrapes (the RSS is the later one's).
func (m OperatorMetrics) Minus(before OperatorMetrics) OperatorMetrics {
	d := OperatorMetrics{CPUSeconds: m.CPUSeconds - before.CPUSeconds, RSSBytes: m.RSSBytes,
		Requests: map[string]float64{}, Reconciles: map[string]float64{}, StepSeconds: map[string]float64{}}
	for k, v := range m.Requests {
		if x := v - before.Requests[k]; x != 0 {
			d.Requests[k] = x
		}
	}
	for k, v := range m.Reconciles {
		if x := v - before.Reconciles[k]; x != 0 {
			d.Reconciles[k] = x
		}
	}
	for k, v := range m.StepSeconds {
		if x := v - before.StepSeconds[k]; x > 0 {
			d.StepSeconds[k] = x
		}
	}
	return d
}

func sum(f *dto.MetricFamily) float64 {
	total := 0.0
	for _, metric := range f.GetMetric() {
		total += value(metric)
	}
	return total
}

func value(metric *dto.Metric) float64 {
	switch {
	case metric.Counter != nil:
		return metric.GetCounter().GetValue()
	case metric.Gauge != nil:
		return metric.GetGauge().GetValue()
	case metric.Untyped != nil:
		return metric.GetUntyped().GetValue()
	}
	return 0
}

func label(metric *dto.Metric, name string) string {
	for _, l := range metric.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
