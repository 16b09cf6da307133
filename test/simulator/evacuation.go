package simulator

import "time"

// evacuationOpts are the start body's settings.
type evacuationOpts struct {
	ConnEvictRate   int64    `json:"conn_evict_rate"`
	SessEvictRate   int64    `json:"sess_evict_rate"`
	WaitTakeover    int64    `json:"wait_takeover"`
	WaitHealthCheck int64    `json:"wait_health_check"`
	MigrateTo       []string `json:"migrate_to,omitempty"`
}

// evacuation is a node's evacuation state machine (emqx_node_rebalance_evacuation):
// waiting_health_check → evicting_conns → waiting_takeover → evicting_sessions → prohibiting.
type evacuation struct {
	opts             evacuationOpts
	state            string
	enteredState     time.Time
	initialConnected int64
}

func defaultEvacuationOpts() evacuationOpts {
	return evacuationOpts{ConnEvictRate: 500, SessEvictRate: 500, WaitTakeover: 60, WaitHealthCheck: 60}
}

// tickEvacuations advances every evacuation by one tick of `elapsed` simulated seconds.
func (s *Simulator) tickEvacuations(now time.Time, tick time.Duration) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.nodes {
		ev := n.evac
		if ev == nil || n.state != running {
			continue
		}
		inState := s.simSeconds(now.Sub(ev.enteredState))
		switch ev.state {
		case "waiting_health_check":
			if inState >= float64(ev.opts.WaitHealthCheck) {
				ev.state, ev.enteredState = "evicting_conns", now
			}
		case "evicting_conns":
			moved := int64(float64(ev.opts.ConnEvictRate) * s.simSeconds(tick))
			if moved < 1 {
				moved = 1
			}
			if moved > n.connections {
				moved = n.connections
			}
			targets := s.migrationTargets(n)
			if len(targets) == 0 {
				continue // no node to take the clients: EMQX keeps trying
			}
			n.connections -= moved
			for i := int64(0); i < moved; i++ {
				targets[i%int64(len(targets))].connections++
			}
			if n.connections == 0 {
				ev.state, ev.enteredState = "waiting_takeover", now
			}
		case "waiting_takeover":
			if inState >= float64(ev.opts.WaitTakeover) {
				ev.state, ev.enteredState = "evicting_sessions", now
			}
		case "evicting_sessions":
			if len(s.migrationTargets(n)) > 0 {
				ev.state, ev.enteredState = "prohibiting", now
			}
		}
	}
}

// migrationTargets are the running, non-evacuating nodes of n's cluster (or migrate_to).
func (s *Simulator) migrationTargets(n *node) []*node {
	var out []*node
	c := s.w.clusterOf(n)
	if c == nil {
		return nil
	}
	allowed := map[string]bool{}
	for _, m := range n.evac.opts.MigrateTo {
		allowed[m] = true
	}
	for _, m := range s.w.runningMembers(c) {
		if m.name == n.name || m.evac != nil || (len(allowed) > 0 && !allowed[m.name]) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (ev *evacuation) status(n *node) map[string]any {
	return map[string]any{
		"state": ev.state, "connection_eviction_rate": ev.opts.ConnEvictRate, "session_eviction_rate": ev.opts.SessEvictRate,
		"connection_goal": 0, "session_goal": 0, "session_recipients": ev.opts.MigrateTo,
		"stats": map[string]int64{"initial_connected": ev.initialConnected, "current_connected": n.connections,
			"initial_sessions": ev.initialConnected, "current_sessions": n.connections},
	}
}
