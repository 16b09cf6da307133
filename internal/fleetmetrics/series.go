// Package fleetmetrics turns the status of every EMQX cluster the operator manages into Prometheus
// series: one set per cluster, labelled namespace and name, read from the manager's cache at scrape
// time. Nothing is kept between scrapes, so a deleted cluster's series go with it and the number of
// series is bounded by the number of clusters (and backup schedules).
package fleetmetrics

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/licensing"
	"github.com/broker-ops/emqx-operator/internal/schedule"
)

// Metric names, shared by the collector, the alert rules and the dashboard.
const (
	NodesWanted          = "emqx_operator_cluster_nodes_wanted"
	NodesRunning         = "emqx_operator_cluster_nodes_running"
	ClusterReady         = "emqx_operator_cluster_ready"
	RolloutInProgress    = "emqx_operator_cluster_rollout_in_progress"
	RolloutBlocked       = "emqx_operator_cluster_rollout_blocked"
	LicenseExpiry        = "emqx_operator_cluster_license_expiry_timestamp_seconds"
	LicenseWarningDays   = "emqx_operator_cluster_license_expiry_warning_days"
	CertificateNotAfter  = "emqx_operator_cluster_certificate_not_after_timestamp_seconds"
	DSReplicationStable  = "emqx_operator_cluster_ds_replication_stable"
	DSLostShardReplicas  = "emqx_operator_cluster_ds_lost_shard_replicas"
	BackupLastSuccess    = "emqx_operator_cluster_backup_last_success_timestamp_seconds"
	BackupLastSucceeded  = "emqx_operator_cluster_backup_last_succeeded"
	ScheduleMissedAfter  = "emqx_operator_backup_schedule_missed_after_timestamp_seconds"
	ScheduleLastSuccess  = "emqx_operator_backup_schedule_last_success_timestamp_seconds"
	ScheduleCreated      = "emqx_operator_backup_schedule_created_timestamp_seconds"
	scheduleClusterLabel = "cluster"
)

// Sample is one series: a metric name, its label values beyond namespace and name (in the order of
// the metric's description), and a value.
type Sample struct {
	Metric string
	Extra  []string
	Value  float64
}

// ClusterSamples are the series of one cluster. backups are the cluster's EMQXBackups (any order).
// Series with nothing to say are left out (no licence series without a licence, no DS series
// without durable storage) rather than reported as zero, which an alert would read as a fact.
func ClusterSamples(e *v2beta1.EMQX, backups []v2beta1.EMQXBackup) []Sample {
	s := &e.Status
	out := []Sample{
		{NodesWanted, []string{v2beta1.RoleCore}, float64(e.CoreReplicas())},
		{NodesRunning, []string{v2beta1.RoleCore}, float64(running(s.CoreNodes))},
		{ClusterReady, nil, boolValue(meta.IsStatusConditionTrue(s.Conditions, v2beta1.Ready))},
		{RolloutInProgress, nil, boolValue(rollingOut(s.Conditions, v2beta1.CoreNodesProgressing) ||
			rollingOut(s.Conditions, v2beta1.ReplicantNodesProgressing))},
	}
	if e.Spec.ReplicantTemplate != nil {
		out = append(out,
			Sample{NodesWanted, []string{v2beta1.RoleReplicant}, float64(e.ReplicantReplicas())},
			Sample{NodesRunning, []string{v2beta1.RoleReplicant}, float64(running(s.ReplicantNodes))})
	}
	if reason := blockedReason(s.Conditions); reason != "" {
		out = append(out, Sample{RolloutBlocked, []string{reason}, 1})
	}
	if s.License != nil && s.License.ExpiryAt != "" {
		// EMQX gives the expiry as a date; the licence ends as that day begins (UTC), the
		// reading that warns earlier.
		if t, err := time.Parse("2006-01-02", s.License.ExpiryAt); err == nil {
			out = append(out, Sample{LicenseExpiry, nil, float64(t.Unix())},
				Sample{LicenseWarningDays, nil, float64(licensing.ExpiryWarningDays(e))})
		}
	}
	if s.TLS != nil && s.TLS.NotAfter != nil {
		out = append(out, Sample{CertificateNotAfter, nil, float64(s.TLS.NotAfter.Unix())})
	}
	if s.DSReplication != nil && len(s.DSReplication.DBs) > 0 {
		stable, lost := true, int32(0)
		for _, db := range s.DSReplication.DBs {
			stable = stable && db.Stable()
			lost += db.LostShardReplicas
		}
		out = append(out, Sample{DSReplicationStable, nil, boolValue(stable)}, Sample{DSLostShardReplicas, nil, float64(lost)})
	}
	if last := schedule.LastSucceeded(backups); last != nil {
		out = append(out, Sample{BackupLastSuccess, nil, float64(last.Unix())})
	}
	if b := newestFinished(backups); b != nil {
		out = append(out, Sample{BackupLastSucceeded, nil, boolValue(b.Status.Phase == v2beta1.BackupSucceeded)})
	}
	return out
}

// ScheduleSamples are the series of one backup schedule (the extra label is its cluster).
//
// "Missed" is counted in scheduled runs, not in a fixed interval: from the newest success (or the
// schedule's creation) to the second run after it. A schedule's runs need not be evenly spaced
// (weekdays only, twice a day at 02:00 and 03:00): twice the gap between two upcoming runs would
// alert on Monday for a weekday schedule whose Friday run succeeded, or never for long gaps. A
// suspended schedule or one whose schedule does not parse has nothing due, so no alert may say a
// backup is late.
func ScheduleSamples(sc *v2beta1.EMQXBackupSchedule) []Sample {
	cluster := []string{sc.Spec.Template.ClusterName}
	out := []Sample{{ScheduleCreated, cluster, float64(sc.CreationTimestamp.Unix())}}
	if sc.Status.LastSuccessfulTime != nil {
		out = append(out, Sample{ScheduleLastSuccess, cluster, float64(sc.Status.LastSuccessfulTime.Unix())})
	}
	if sc.Spec.Suspend {
		return out
	}
	if cs, err := schedule.Parse(sc.Spec.Schedule); err == nil {
		since := sc.CreationTimestamp.Time
		if sc.Status.LastSuccessfulTime != nil {
			since = sc.Status.LastSuccessfulTime.Time
		}
		out = append(out, Sample{ScheduleMissedAfter, cluster, float64(cs.Next(cs.Next(since)).Unix())})
	}
	return out
}

// blockedReason says why a change stopped and needs a person ("" when nothing is blocked): a spec
// the operator refuses, pods the cluster does not admit, a new revision whose pod does not become
// ready, or objects the API server refuses.
func blockedReason(conds []metav1.Condition) string {
	for _, t := range []string{v2beta1.ConfigValid, v2beta1.PodsAdmitted} {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionFalse {
			return c.Reason
		}
	}
	for _, t := range []string{v2beta1.CoreNodesProgressing, v2beta1.ReplicantNodesProgressing} {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue && c.Reason == "RolloutBlocked" {
			return c.Reason
		}
	}
	if c := meta.FindStatusCondition(conds, v2beta1.Ready); c != nil && c.Status == metav1.ConditionFalse && c.Reason == "ApplyFailed" {
		return c.Reason
	}
	return ""
}

// rollingOut: the role's nodes are being created, scaled or replaced. A node that is only
// (re)joining — stopped, crashed, restarted — is not a rollout: the node-down alert must see it.
func rollingOut(conds []metav1.Condition, progressing string) bool {
	c := meta.FindStatusCondition(conds, progressing)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason != "Joining"
}

func running(nodes []v2beta1.EMQXNode) int {
	n := 0
	for _, node := range nodes {
		if node.NodeStatus == "running" {
			n++
		}
	}
	return n
}

func newestFinished(backups []v2beta1.EMQXBackup) *v2beta1.EMQXBackup {
	var newest *v2beta1.EMQXBackup
	for i := range backups {
		b := &backups[i]
		if !b.Finished() || b.Status.CompletionTime == nil {
			continue
		}
		if newest == nil || newest.Status.CompletionTime.Before(b.Status.CompletionTime) {
			newest = b
		}
	}
	return newest
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
