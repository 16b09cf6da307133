package fleetmetrics

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/broker-ops/emqx-operator/api/v2beta1"
)

func TestCollectorLabelsEachClusterAndItsBackups(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v2beta1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	a := cluster(nil)
	a.Namespace, a.Name = "iot", "a"
	b := cluster(func(e *v2beta1.EMQX) { e.Status.Conditions = nil })
	b.Namespace, b.Name = "lab", "b"
	ok := backup(v2beta1.BackupSucceeded, now.Add(-time.Hour))
	ok.Namespace, ok.Name, ok.Spec.ClusterName = "iot", "nightly", "a"
	other := backup(v2beta1.BackupFailed, now)
	other.Namespace, other.Name, other.Spec.ClusterName = "lab", "x", "a" // same cluster name, other namespace
	sched := &v2beta1.EMQXBackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: "iot", Name: "daily", CreationTimestamp: metav1.Time{Time: now.Add(-time.Hour)}}}
	sched.Spec.Schedule, sched.Spec.Template.ClusterName = "@daily", "a"

	c := &Collector{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(a, b, &ok, &other, sched).Build(),
		Log: logr.Discard()}
	want := `
# HELP emqx_operator_cluster_backup_last_success_timestamp_seconds When the cluster's newest successful backup finished (Unix time).
# TYPE emqx_operator_cluster_backup_last_success_timestamp_seconds gauge
emqx_operator_cluster_backup_last_success_timestamp_seconds{name="a",namespace="iot"} ` + itoa(now.Add(-time.Hour).Unix()) + `
# HELP emqx_operator_cluster_ready 1 when the cluster's Ready condition is True.
# TYPE emqx_operator_cluster_ready gauge
emqx_operator_cluster_ready{name="a",namespace="iot"} 1
emqx_operator_cluster_ready{name="b",namespace="lab"} 0
# HELP emqx_operator_backup_schedule_missed_after_timestamp_seconds When the second scheduled run after the schedule's newest success (or its creation) is due: without a success by then two runs are missed (Unix time; absent while suspended).
# TYPE emqx_operator_backup_schedule_missed_after_timestamp_seconds gauge
emqx_operator_backup_schedule_missed_after_timestamp_seconds{cluster="a",name="daily",namespace="iot"} ` + itoa(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).Unix()) + `
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), ClusterReady, BackupLastSuccess, ScheduleMissedAfter); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, BackupLastSucceeded); n != 1 {
		t.Errorf("%d last-result series, want 1: the failed backup in lab names a cluster that lab does not have", n)
	}

	elected := make(chan struct{})
	c.Elected = elected
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("a standby replica exports %d series, want none (they would be counted twice)", n)
	}
	close(elected)
	if n := testutil.CollectAndCount(c, ClusterReady); n != 2 {
		t.Errorf("the leader exports %d Ready series, want 2", n)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
