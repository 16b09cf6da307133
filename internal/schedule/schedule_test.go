package schedule

import (
	"reflect"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func TestDue(t *testing.T) {
	daily, err := Parse("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	every, err := Parse("@every 10s")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		s           cron.Schedule
		last, now   time.Time
		due, next   time.Time
		wantNoneDue bool
	}{
		"not yet":             {s: daily, last: t0, now: t0.Add(time.Hour), wantNoneDue: true, next: t0.Add(24 * time.Hour)},
		"due":                 {s: daily, last: t0, now: t0.Add(24*time.Hour + time.Minute), due: t0.Add(24 * time.Hour), next: t0.Add(48 * time.Hour)},
		"missed runs: latest": {s: daily, last: t0, now: t0.Add(72*time.Hour + time.Minute), due: t0.Add(72 * time.Hour), next: t0.Add(96 * time.Hour)},
		"every 10s":           {s: every, last: t0, now: t0.Add(25 * time.Second), due: t0.Add(20 * time.Second), next: t0.Add(30 * time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			due, next := Due(tc.s, tc.last, tc.now)
			if tc.wantNoneDue != (due == nil) || (due != nil && !due.Equal(tc.due)) || !next.Equal(tc.next) {
				t.Errorf("Due = %v, %v; want %v, %v", due, next, tc.due, tc.next)
			}
		})
	}
	if _, err := Parse("every day"); err == nil {
		t.Error("a bad schedule parsed")
	}
	if _, err := Parse("CRON_TZ=Europe/Berlin 0 3 * * *"); err != nil {
		t.Errorf("a schedule with its time zone: %v", err)
	}
}

func backupAt(name, phase string, created time.Time) v2beta1.EMQXBackup {
	b := v2beta1.EMQXBackup{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}}
	b.Status.Phase = phase
	if phase == v2beta1.BackupSucceeded || phase == v2beta1.BackupFailed {
		b.Status.CompletionTime = ptr.To(metav1.NewTime(created.Add(time.Second)))
	}
	return b
}

func TestExpired(t *testing.T) {
	now := t0.Add(10 * 24 * time.Hour)
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	backups := []v2beta1.EMQXBackup{
		backupAt("b1", v2beta1.BackupSucceeded, day(1)),
		backupAt("b2", v2beta1.BackupSucceeded, day(2)),
		backupAt("b3", v2beta1.BackupFailed, day(3)),
		backupAt("b4", v2beta1.BackupSucceeded, day(4)),
		backupAt("b5", v2beta1.BackupFailed, day(5)),
		backupAt("b6", v2beta1.BackupRunning, day(6)),
		backupAt("b7", v2beta1.BackupPending, day(7)),
	}
	for name, tc := range map[string]struct {
		r    *v2beta1.BackupRetention
		want []string
	}{
		"no retention":      {nil, nil},
		"keep 2":            {&v2beta1.BackupRetention{KeepLast: ptr.To[int32](2)}, []string{"b1", "b3"}},
		"keep 1, no failed": {&v2beta1.BackupRetention{KeepLast: ptr.To[int32](1), KeepFailed: ptr.To[int32](0)}, []string{"b1", "b2", "b3", "b5"}},
		"younger than 7d":   {&v2beta1.BackupRetention{MaxAge: &metav1.Duration{Duration: 7 * 24 * time.Hour}}, []string{"b1", "b2", "b3"}},
		// Everything is too old, but the newest good backup stays.
		"younger than 1h": {&v2beta1.BackupRetention{MaxAge: &metav1.Duration{Duration: time.Hour}}, []string{"b1", "b2", "b3"}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := Expired(backups, tc.r, now); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Expired = %v, want %v", got, tc.want)
			}
		})
	}
}
