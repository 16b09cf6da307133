package fleetmetrics

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/api/v2beta1"
)

// descriptions of every series, with the label names their Sample.Extra values fill.
var descriptions = map[string]*prometheus.Desc{}

func describe(name, help string, extra ...string) {
	labels := append([]string{"namespace", "name"}, extra...)
	descriptions[name] = prometheus.NewDesc(name, help, labels, nil)
}

func init() {
	describe(NodesWanted, "EMQX nodes the cluster's spec asks for, by role.", "role")
	describe(NodesRunning, "EMQX nodes of the cluster that EMQX reports running, by role (as last polled).", "role")
	describe(ClusterReady, "1 when the cluster's Ready condition is True.")
	describe(RolloutInProgress, "1 while a change is being rolled out to the cluster's nodes.")
	describe(RolloutBlocked, "1 while a change is stopped until someone acts; reason is the condition's reason.", "reason")
	describe(LicenseExpiry, "When the running licence expires (Unix time, start of the expiry day UTC).")
	describe(LicenseWarningDays, "Days before the licence's expiry from which the operator warns (spec.license.expiryWarningDays).")
	describe(CertificateNotAfter, "When the listeners' TLS certificate stops being valid (Unix time).")
	describe(DSReplicationStable, "1 when every durable-storage database has all its replicas and no transition pending.")
	describe(DSLostShardReplicas, "Shard replicas of durable storage that live on lost sites.")
	describe(BackupLastSuccess, "When the cluster's newest successful backup finished (Unix time).")
	describe(BackupLastSucceeded, "1 when the cluster's most recently finished backup succeeded.")
	describe(ScheduleMissedAfter, "When the second scheduled run after the schedule's newest success (or its creation) is due: "+
		"without a success by then two runs are missed (Unix time; absent while suspended).", scheduleClusterLabel)
	describe(ScheduleLastSuccess, "When the schedule's newest successful backup finished (Unix time).", scheduleClusterLabel)
	describe(ScheduleCreated, "When the backup schedule was created (Unix time).", scheduleClusterLabel)
}

// Collector reads the clusters, backups and schedules from reader (the manager's cache: a
// scrape costs no API request) each time Prometheus scrapes.
type Collector struct {
	Reader client.Reader
	Log    logr.Logger
	// Elected is closed once this replica leads (the manager's Elected()); nil: always. Standby
	// replicas keep a warm cache too, and if they exported the same series every fleet figure
	// would be counted once per replica and each alert would fire twice.
	Elected <-chan struct{}
}

var _ prometheus.Collector = (*Collector)(nil)

// Describe sends every description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descriptions {
		ch <- d
	}
}

// Collect sends the series of every cluster and schedule. A list that fails leaves its series out
// of this scrape and is logged; the operator's other metrics are still served.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.Elected != nil {
		select {
		case <-c.Elected:
		default:
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var clusters v2beta1.EMQXList
	var backups v2beta1.EMQXBackupList
	var schedules v2beta1.EMQXBackupScheduleList
	if err := c.Reader.List(ctx, &backups); err != nil {
		c.Log.Error(err, "listing EMQXBackups for metrics")
	}
	byCluster := map[[2]string][]v2beta1.EMQXBackup{}
	for _, b := range backups.Items {
		k := [2]string{b.Namespace, b.Spec.ClusterName}
		byCluster[k] = append(byCluster[k], b)
	}
	if err := c.Reader.List(ctx, &clusters); err != nil {
		c.Log.Error(err, "listing EMQX clusters for metrics")
	}
	for i := range clusters.Items {
		e := &clusters.Items[i]
		send(ch, e.Namespace, e.Name, ClusterSamples(e, byCluster[[2]string{e.Namespace, e.Name}]))
	}
	if err := c.Reader.List(ctx, &schedules); err != nil {
		c.Log.Error(err, "listing EMQXBackupSchedules for metrics")
	}
	for i := range schedules.Items {
		sc := &schedules.Items[i]
		send(ch, sc.Namespace, sc.Name, ScheduleSamples(sc))
	}
}

func send(ch chan<- prometheus.Metric, namespace, name string, samples []Sample) {
	for _, s := range samples {
		labels := append([]string{namespace, name}, s.Extra...)
		ch <- prometheus.MustNewConstMetric(descriptions[s.Metric], prometheus.GaugeValue, s.Value, labels...)
	}
}
