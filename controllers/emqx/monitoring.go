package emqx

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/desired"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Reasons of the MonitoringReady condition.
const (
	ReasonPrometheusOperatorMissing = "PrometheusOperatorMissing"
	ReasonPodMonitorNotApplied      = "PodMonitorNotApplied"
	ReasonPodMonitorNotOwned        = "PodMonitorNotOwned"
	ReasonWaitingForEMQX            = "WaitingForEMQX"
	ReasonScrapeCredentialsRefused  = "ScrapeCredentialsRefused"
	ReasonStatsUnavailable          = "StatsUnavailable"
	ReasonScraping                  = "Scraping"
)

// monitoring owns the PodMonitor of spec.monitoring.podMonitor and checks, once per spec, that
// EMQX accepts its scrape key on one node's stats endpoint. It never stops the pass and never
// holds Ready: a cluster serves its clients whether or not Prometheus can read it, so a missing
// Prometheus Operator or a refused key is reported and nothing else about the cluster changes.
func (r *EMQXReconciler) monitoring(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	e := p.e
	rep := &p.reports.Monitoring
	if !e.WantsPodMonitor() {
		if err := r.removePodMonitor(ctx, e); err != nil {
			return pipeline.Next(), err
		}
		rep.Removed = true
		return pipeline.Next(), nil
	}
	saw := func(ok bool, reason, msg string) {
		rep.Observed, rep.OK, rep.Reason, rep.Message = true, ok, reason, msg
		if !ok {
			r.warnOnce(e, v2beta1.MonitoringReady, reason, msg)
		}
	}
	pm := desired.PodMonitor(e)
	pm.SetOwnerReferences([]metav1.OwnerReference{desired.OwnerReference(e)})
	applier := &apply.Applier{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder, OnlyOwned: true}
	if _, err := applier.Apply(ctx, e, []client.Object{pm}); err != nil {
		var notOwned *apply.NotOwned
		switch {
		case errors.As(err, &notOwned):
			// Likely one written by hand from the vendor's docs: taking it over would drop the
			// user's settings without a word, so it is reported and left alone.
			saw(false, ReasonPodMonitorNotOwned, notOwned.Error()+" (or unset spec.monitoring.podMonitor to keep it)")
			return pipeline.Next(), nil
		case apierrors.IsAlreadyExists(err):
			// Made since the cache last saw it (see apply.Applier.OnlyOwned): whose it is shows
			// at the next pass; the condition stays as it was.
			return pipeline.Next(), nil
		case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
			// NoMatch: the kind was never served. NotFound from a server-side apply (which creates
			// what is missing) means the kind is no longer served: the CRD was deleted after the
			// operator had learnt its mapping.
			saw(false, ReasonPrometheusOperatorMissing, "spec.monitoring.podMonitor is set but this cluster does not serve "+
				"monitoring.coreos.com/v1 PodMonitor: install the Prometheus Operator (its CRDs); the PodMonitor is made when they arrive")
			return pipeline.Next(), nil
		}
		saw(false, ReasonPodMonitorNotApplied, fmt.Sprintf("PodMonitor %s: %v", pm.Name, err))
		return pipeline.Next(), nil
	}
	// Once EMQX accepted the key for this spec it is not asked again: the check costs a read of
	// EMQX's API, and a key refused later shows in Prometheus as the targets' up == 0.
	if c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.MonitoringReady); c != nil &&
		c.Status == metav1.ConditionTrue && c.ObservedGeneration == e.Generation {
		return pipeline.Next(), nil
	}
	if p.observed.Answered.BaseURL == "" || p.scrapeKey == nil {
		rep.Observed, rep.Reason, rep.Message = true, ReasonWaitingForEMQX,
			"no EMQX node answers yet; the scrape credentials are checked once one does"
		return pipeline.Next(), nil
	}
	mode := e.Spec.Monitoring.PodMonitor.Mode
	if mode == "" {
		mode = "node"
	}
	c := r.EMQXClients(p.observed.Answered.BaseURL, emqxapi.Credentials{Key: p.scrapeKey.Key, Secret: p.scrapeKey.Secret})
	_, err := c.PrometheusStats(ctx, mode)
	var apiErr *emqxapi.Error
	switch {
	case err == nil:
		saw(true, ReasonScraping, fmt.Sprintf("PodMonitor %s scrapes %s (mode %s) on every pod with the key of Secret %s, which EMQX accepts",
			pm.Name, desired.StatsPath, mode, e.ScrapeKeySecretName()))
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized:
		saw(false, ReasonScrapeCredentialsRefused, fmt.Sprintf("EMQX refuses the scrape key of Secret %s (%s). EMQX loads API keys "+
			"from the bootstrap file when a core node starts: the next rolling update of the cores (any change to "+
			"spec.coreTemplate, e.g. an annotation) loads it", e.ScrapeKeySecretName(), apiErr.Message))
	default:
		saw(false, ReasonStatsUnavailable, fmt.Sprintf("reading %s from %s: %v", desired.StatsPath, p.observed.Answered.Pod, err))
	}
	return pipeline.Next(), nil
}

// removePodMonitor deletes the PodMonitor of a cluster whose spec no longer asks for one. Only a
// cluster whose status shows it had asked is looked at, so clusters that never asked for
// monitoring cost nothing (no PodMonitor informer, and nothing to find without the CRD). The
// condition stays until a pass got here (see status.MonitoringReport.Removed), so a pass that
// stopped earlier cannot leave the PodMonitor behind.
func (r *EMQXReconciler) removePodMonitor(ctx context.Context, e *v2beta1.EMQX) error {
	if meta.FindStatusCondition(e.Status.Conditions, v2beta1.MonitoringReady) == nil {
		return nil
	}
	pm := &monitoringv1.PodMonitor{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.PodMonitorName()}, pm)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading PodMonitor %s: %w", e.PodMonitorName(), err)
	}
	// A PodMonitor of the same name that the cluster does not own is someone else's.
	if !metav1.IsControlledBy(pm, e) {
		return nil
	}
	if err := r.Client.Delete(ctx, pm); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting PodMonitor %s: %w", pm.Name, err)
	}
	r.Recorder.Eventf(e, pm, corev1.EventTypeNormal, "Deleted", "Monitoring", "PodMonitor %s deleted: spec.monitoring.podMonitor is no longer set", pm.Name)
	return nil
}
