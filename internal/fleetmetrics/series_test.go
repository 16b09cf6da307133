package fleetmetrics

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/broker-ops/emqx-operator/api/v2beta1"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func cluster(mutate func(e *v2beta1.EMQX)) *v2beta1.EMQX {
	e := &v2beta1.EMQX{}
	e.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](3)
	e.Status.CoreNodes = []v2beta1.EMQXNode{{Node: "a", NodeStatus: "running"}, {Node: "b", NodeStatus: "running"}, {Node: "c", NodeStatus: "stopped"}}
	e.Status.Conditions = []metav1.Condition{{Type: v2beta1.Ready, Status: metav1.ConditionTrue, Reason: "ClusterReady"}}
	if mutate != nil {
		mutate(e)
	}
	return e
}

func condition(t, status, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason}
}

func backup(phase string, finished time.Time) v2beta1.EMQXBackup {
	b := v2beta1.EMQXBackup{}
	b.Status.Phase = phase
	b.Status.CompletionTime = &metav1.Time{Time: finished}
	return b
}

func TestClusterSamples(t *testing.T) {
	base := []Sample{
		{NodesWanted, []string{"core"}, 3},
		{NodesRunning, []string{"core"}, 2},
		{ClusterReady, nil, 1},
		{RolloutInProgress, nil, 0},
	}
	with := func(extra ...Sample) []Sample { return append(append([]Sample{}, base...), extra...) }
	for _, tc := range []struct {
		name    string
		emqx    *v2beta1.EMQX
		backups []v2beta1.EMQXBackup
		want    []Sample
	}{
		{"a bare cluster has node and Ready series only", cluster(nil), nil, base},
		{"replicants are counted apart", cluster(func(e *v2beta1.EMQX) {
			e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
			e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To[int32](2)
			e.Status.ReplicantNodes = []v2beta1.EMQXNode{{Node: "r", NodeStatus: "running"}}
		}), nil, with(Sample{NodesWanted, []string{"replicant"}, 2}, Sample{NodesRunning, []string{"replicant"}, 1})},
		{"a rolling update is in progress, not blocked", cluster(func(e *v2beta1.EMQX) {
			e.Status.Conditions = []metav1.Condition{condition(v2beta1.Ready, "False", "RollingUpdate"),
				condition(v2beta1.CoreNodesProgressing, "True", "RollingUpdate")}
		}), nil, []Sample{base[0], base[1], {ClusterReady, nil, 0}, {RolloutInProgress, nil, 1}}},
		{"a new revision that never becomes ready blocks the rollout", cluster(func(e *v2beta1.EMQX) {
			e.Status.Conditions = []metav1.Condition{condition(v2beta1.Ready, "False", "WaitingForHealthyCluster"),
				condition(v2beta1.CoreNodesProgressing, "True", "RolloutBlocked")}
		}), nil, []Sample{base[0], base[1], {ClusterReady, nil, 0}, {RolloutInProgress, nil, 1}, {RolloutBlocked, []string{"RolloutBlocked"}, 1}}},
		{"a node that only rejoins is not a rollout", cluster(func(e *v2beta1.EMQX) {
			e.Status.Conditions = []metav1.Condition{condition(v2beta1.Ready, "False", "NodesNotReady"),
				condition(v2beta1.CoreNodesProgressing, "True", "Joining")}
		}), nil, []Sample{base[0], base[1], {ClusterReady, nil, 0}, {RolloutInProgress, nil, 0}}},
		{"a refused spec blocks with its reason", cluster(func(e *v2beta1.EMQX) {
			e.Status.Conditions = append(e.Status.Conditions, condition(v2beta1.ConfigValid, "False", "ImmutableFieldChanged"))
		}), nil, with(Sample{RolloutBlocked, []string{"ImmutableFieldChanged"}, 1})},
		{"objects the API server refuses block", cluster(func(e *v2beta1.EMQX) {
			e.Status.Conditions = []metav1.Condition{condition(v2beta1.Ready, "False", "ApplyFailed")}
		}), nil, []Sample{base[0], base[1], {ClusterReady, nil, 0}, base[3], {RolloutBlocked, []string{"ApplyFailed"}, 1}}},
		{"licence expiry is the start of its day", cluster(func(e *v2beta1.EMQX) {
			e.Status.License = &v2beta1.LicenseStatus{ExpiryAt: "2026-12-10"}
			e.Spec.License = &v2beta1.License{ExpiryWarningDays: 5}
		}), nil, with(Sample{LicenseExpiry, nil, float64(time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC).Unix())}, Sample{LicenseWarningDays, nil, 5})},
		{"an unreadable licence date says nothing", cluster(func(e *v2beta1.EMQX) {
			e.Status.License = &v2beta1.LicenseStatus{ExpiryAt: "soon"}
		}), nil, base},
		{"certificate not-after", cluster(func(e *v2beta1.EMQX) {
			e.Status.TLS = &v2beta1.TLSStatus{NotAfter: &metav1.Time{Time: now}}
		}), nil, with(Sample{CertificateNotAfter, nil, float64(now.Unix())})},
		{"durable storage with a lost replica is unstable", cluster(func(e *v2beta1.EMQX) {
			e.Status.DSReplication = &v2beta1.DSReplicationStatus{DBs: []v2beta1.DSDBReplicationStatus{
				{Name: "messages", MinReplicas: 3, MaxReplicas: 3},
				{Name: "sessions", MinReplicas: 3, MaxReplicas: 3, LostShardReplicas: 2}}}
		}), nil, with(Sample{DSReplicationStable, nil, 0}, Sample{DSLostShardReplicas, nil, 2})},
		{"stable durable storage", cluster(func(e *v2beta1.EMQX) {
			e.Status.DSReplication = &v2beta1.DSReplicationStatus{DBs: []v2beta1.DSDBReplicationStatus{{Name: "messages", MinReplicas: 3, MaxReplicas: 3}}}
		}), nil, with(Sample{DSReplicationStable, nil, 1}, Sample{DSLostShardReplicas, nil, 0})},
		{"a failed backup after a success keeps the success time and says it failed", cluster(nil),
			[]v2beta1.EMQXBackup{backup(v2beta1.BackupSucceeded, now.Add(-2*time.Hour)), backup(v2beta1.BackupFailed, now.Add(-time.Hour)), {}},
			with(Sample{BackupLastSuccess, nil, float64(now.Add(-2 * time.Hour).Unix())}, Sample{BackupLastSucceeded, nil, 0})},
		{"a backup that succeeded last", cluster(nil),
			[]v2beta1.EMQXBackup{backup(v2beta1.BackupFailed, now.Add(-2*time.Hour)), backup(v2beta1.BackupSucceeded, now.Add(-time.Hour))},
			with(Sample{BackupLastSuccess, nil, float64(now.Add(-time.Hour).Unix())}, Sample{BackupLastSucceeded, nil, 1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClusterSamples(tc.emqx, tc.backups); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestScheduleSamples(t *testing.T) {
	created := metav1.Time{Time: now.Add(-48 * time.Hour)}
	sc := func(spec string, suspend bool, last *metav1.Time) *v2beta1.EMQXBackupSchedule {
		s := &v2beta1.EMQXBackupSchedule{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created}}
		s.Spec.Schedule, s.Spec.Suspend, s.Spec.Template.ClusterName = spec, suspend, "emqx"
		s.Status.LastSuccessfulTime = last
		return s
	}
	c := []string{"emqx"}
	createdSample := Sample{ScheduleCreated, c, float64(created.Unix())}
	last := &metav1.Time{Time: now.Add(-time.Hour)}
	at := func(t time.Time) float64 { return float64(t.Unix()) }
	// 2026-12-04 is a Friday.
	fridayRun := &metav1.Time{Time: time.Date(2026, 12, 4, 2, 4, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		sc   *v2beta1.EMQXBackupSchedule
		want []Sample
	}{
		{"daily, never succeeded: two runs after creation (12-03 12:00)", sc("0 3 * * *", false, nil),
			[]Sample{createdSample, {ScheduleMissedAfter, c, at(time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))}}},
		{"every 6h with a success: two runs after it", sc("@every 6h", false, last),
			[]Sample{createdSample, {ScheduleLastSuccess, c, at(last.Time)}, {ScheduleMissedAfter, c, at(last.Add(12 * time.Hour))}}},
		{"weekdays, Friday's run succeeded: missed only after Tuesday's run, not over the weekend", sc("0 2 * * 1-5", false, fridayRun),
			[]Sample{createdSample, {ScheduleLastSuccess, c, at(fridayRun.Time)}, {ScheduleMissedAfter, c, at(time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC))}}},
		{"suspended: nothing is due", sc("@hourly", true, last), []Sample{createdSample, {ScheduleLastSuccess, c, float64(last.Unix())}}},
		{"unparsable schedule: nothing is due", sc("whenever", false, nil), []Sample{createdSample}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ScheduleSamples(tc.sc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}
