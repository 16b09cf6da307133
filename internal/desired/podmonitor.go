package desired

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/credentials"
)

// PodMonitorCRDName is the Prometheus Operator's PodMonitor CRD, whose arrival the operator watches.
const PodMonitorCRDName = "podmonitors.monitoring.coreos.com"

// PodMonitorCRD is the CRD kind as metadata, for that watch and the cache's field selector.
func PodMonitorCRD() *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}}
}

// StatsPath is EMQX's Prometheus endpoint on the dashboard listener.
const StatsPath = "/api/v5/prometheus/stats"

// PodMonitor is the Prometheus Operator PodMonitor of spec.monitoring.podMonitor (nil without
// it): every pod of the cluster, both roles, scraped on the dashboard port with the mode asked
// for and the scrape key's basic auth. The key is sent also to EMQX versions that do not ask for
// it (before 6.3 by default): they ignore it, and a later prometheus.enable_basic_auth = true
// needs no change here.
func PodMonitor(e *v2beta1.EMQX) *monitoringv1.PodMonitor {
	if !e.WantsPodMonitor() {
		return nil
	}
	spec := e.Spec.Monitoring.PodMonitor
	labels := e.SelectorLabels()
	for k, v := range spec.Labels {
		if _, ours := labels[k]; !ours {
			labels[k] = v
		}
	}
	secret := func(key string) corev1.SecretKeySelector {
		return corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: e.ScrapeKeySecretName()}, Key: key}
	}
	endpoint := monitoringv1.PodMetricsEndpoint{
		Port:     ptr.To("dashboard"),
		Path:     StatsPath,
		Params:   map[string][]string{"mode": {orDefault(spec.Mode, "node")}},
		Interval: monitoringv1.Duration(orDefault(spec.Interval, "15s")),
	}
	endpoint.BasicAuth = &monitoringv1.BasicAuth{
		Username: secret(credentials.ScrapeUsernameKey),
		Password: secret(credentials.ScrapePasswordKey),
	}
	return &monitoringv1.PodMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PodMonitorsKind},
		ObjectMeta: metav1.ObjectMeta{Name: e.PodMonitorName(), Namespace: e.Namespace, Labels: labels},
		Spec: monitoringv1.PodMonitorSpec{
			Selector:            metav1.LabelSelector{MatchLabels: e.SelectorLabels()},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{endpoint},
		},
	}
}
