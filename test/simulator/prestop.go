package simulator

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// preStopEvacuation reads an `emqx ctl rebalance start --evacuation …` preStop hook: what the
// kubelet would run in the container before stopping it. ok is false when the pod has none.
func preStopEvacuation(p *corev1.Pod) (evacuationOpts, string, bool) {
	c := emqxContainer(p)
	if c == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		return evacuationOpts{}, "", false
	}
	script := strings.Join(c.Lifecycle.PreStop.Exec.Command, " ")
	if !strings.Contains(script, "rebalance start --evacuation") {
		return evacuationOpts{}, "", false
	}
	o := defaultEvacuationOpts()
	for flag, dst := range map[string]*int64{"--conn-evict-rate": &o.ConnEvictRate, "--sess-evict-rate": &o.SessEvictRate,
		"--wait-takeover": &o.WaitTakeover, "--wait-health-check": &o.WaitHealthCheck} {
		if m := regexp.MustCompile(regexp.QuoteMeta(flag) + `\s+(\d+)`).FindStringSubmatch(script); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			*dst = n
		}
	}
	return o, script, true
}

// runPreStop evacuates the pod's node the way its preStop hook would, then stops it. It returns at
// the latest when the pod's grace period ends (the kubelet's SIGKILL).
func (s *Simulator) runPreStop(ctx context.Context, p *corev1.Pod, opts evacuationOpts, script string) {
	uid := string(p.UID)
	s.w.mu.Lock()
	n := s.nodeOfPod(uid)
	if n == nil || n.state != running {
		s.w.mu.Unlock()
		return
	}
	if n.evac == nil {
		n.evac = &evacuation{opts: opts, state: "waiting_health_check", enteredState: time.Now(), initialConnected: n.connections}
		if per := s.w.persist[n.name]; per != nil {
			per.evacuation = &n.evac.opts
		}
	}
	name := n.name
	s.w.mu.Unlock()
	s.record(Call{Time: time.Now(), Node: name, Method: "EXEC", Path: "preStop", Body: script})

	deadline := time.Now().Add(time.Minute)
	if p.DeletionTimestamp != nil {
		deadline = p.DeletionTimestamp.Time
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.w.mu.Lock()
		drained := n.evac == nil || n.state != running || len(s.migrationTargets(n)) == 0 ||
			n.evac.state == "waiting_takeover" || n.evac.state == "evicting_sessions" || n.evac.state == "prohibiting"
		s.w.mu.Unlock()
		if drained {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
