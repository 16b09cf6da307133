// Package schedule holds the pure decisions of backup schedules: when the next run is due, and
// which of a schedule's backups its retention lets go.
package schedule

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// parser reads five-field cron specs and descriptors (@daily, @every 1h), as CronJobs do.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse reads a schedule; times are UTC unless the spec starts with CRON_TZ=<zone>.
func Parse(spec string) (cron.Schedule, error) {
	s := strings.TrimSpace(spec)
	if !strings.HasPrefix(s, "CRON_TZ=") && !strings.HasPrefix(s, "TZ=") {
		s = "CRON_TZ=UTC " + s
	}
	sched, err := parser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return sched, nil
}

// maxMissed bounds the walk over runs missed while the operator was away: only the latest one
// runs (like a CronJob), so there is no need to count them all.
const maxMissed = 100000

// Due returns the latest run time in (last, now], if any (nil otherwise), and the first run after
// now. Runs missed between last and the latest are skipped, not caught up.
func Due(s cron.Schedule, last, now time.Time) (due *time.Time, next time.Time) {
	t := s.Next(last)
	if t.After(now) {
		return nil, t
	}
	for i := 0; i < maxMissed; i++ {
		n := s.Next(t)
		if n.After(now) {
			return &t, n
		}
		t = n
	}
	// Very many runs missed (a seconds-level schedule after a long outage): run now.
	return &now, s.Next(now)
}

// Expired returns the names of the backups the retention lets go, among one schedule's backups:
// succeeded backups beyond the newest keepLast, or older than maxAge, except the newest succeeded
// one; failed backups beyond the newest keepFailed. Pending and running backups always stay.
func Expired(backups []v2beta1.EMQXBackup, r *v2beta1.BackupRetention, now time.Time) []string {
	if r == nil {
		return nil
	}
	var succeeded, failed []*v2beta1.EMQXBackup
	for i := range backups {
		b := &backups[i]
		switch {
		case !b.DeletionTimestamp.IsZero():
		case b.Status.Phase == v2beta1.BackupSucceeded:
			succeeded = append(succeeded, b)
		case b.Status.Phase == v2beta1.BackupFailed:
			failed = append(failed, b)
		}
	}
	newestFirst(succeeded)
	newestFirst(failed)
	var out []string
	for i, b := range succeeded {
		if i == 0 {
			continue // the newest good backup is never let go
		}
		tooMany := r.KeepLast != nil && i >= int(*r.KeepLast)
		tooOld := r.MaxAge != nil && now.Sub(finishedAt(b)) > r.MaxAge.Duration
		if tooMany || tooOld {
			out = append(out, b.Name)
		}
	}
	keepFailed := 1
	if r.KeepFailed != nil {
		keepFailed = int(*r.KeepFailed)
	}
	for i, b := range failed {
		if i >= keepFailed {
			out = append(out, b.Name)
		}
	}
	sort.Strings(out)
	return out
}

func finishedAt(b *v2beta1.EMQXBackup) time.Time {
	if b.Status.CompletionTime != nil {
		return b.Status.CompletionTime.Time
	}
	return b.CreationTimestamp.Time
}

// newestFirst orders backups by creation, newest first (names break ties: scheduled names end in
// the run's Unix time).
func newestFirst(bs []*v2beta1.EMQXBackup) {
	sort.Slice(bs, func(i, j int) bool {
		ti, tj := bs[i].CreationTimestamp, bs[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return bs[i].Name > bs[j].Name
	})
}

// LastSucceeded is when the newest succeeded backup finished (nil when none has).
func LastSucceeded(backups []v2beta1.EMQXBackup) *metav1.Time {
	var last *metav1.Time
	for i := range backups {
		b := &backups[i]
		if b.Status.Phase == v2beta1.BackupSucceeded && b.Status.CompletionTime != nil &&
			(last == nil || last.Before(b.Status.CompletionTime)) {
			last = b.Status.CompletionTime.DeepCopy()
		}
	}
	return last
}
