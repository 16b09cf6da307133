// Package healthpoll paces what the operator asks EMQX about a cluster that is stable: converged,
// and unchanged in Kubernetes since the operator last read it. Such a cluster costs EMQX at most
// one API read per interval (30 s by default, plus up to a tenth of it at random so that a fleet's
// reads spread out); every feature that reads EMQX takes its turn in that one budget. A cluster
// that changes (a spec change, a pod event, a workload update: the fingerprint the controller
// computes) or that did not converge is read in full at once, on every pass: the budget applies
// only to the quiet time between changes.
package healthpoll

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/broker-ops/emqx-operator/internal/dsrepl"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// DefaultInterval is the time between two EMQX reads of a stable cluster.
const DefaultInterval = 30 * time.Second

// Topic is what a pass reads from EMQX.
type Topic int

const (
	// Everything: the node list, evacuations and the licence (a changed or converging cluster).
	Everything Topic = iota
	// Nothing: the last reading stands; no EMQX call this pass.
	Nothing
	// Nodes, License, Evacuations and DSReplication: the one read a stable cluster's turn allows.
	Nodes
	License
	Evacuations
	DSReplication
)

func (t Topic) String() string {
	return [...]string{"everything", "nothing", "nodes", "license", "evacuations", "ds-replication"}[t]
}

// cycle is the order of a stable cluster's reads, one per interval. The node list comes most often:
// status shows each node's state and connections from it. The licence and evacuations change only
// when somebody acts on EMQX directly (the operator's own changes end the stable time and are read
// in full), so each gets one turn in ten: about every five minutes at the default interval. So
// does durable storage, whose replicas move only when nodes change (read in full then); its turn
// catches a site lost behind the operator's back. It is the costliest turn (the DB list, each DB
// and each site: 2 + DBs + sites calls) and is skipped by clusters without durable storage.
var cycle = []Topic{Nodes, Nodes, Nodes, Nodes, License, Nodes, Nodes, DSReplication, Nodes, Evacuations}

// Reading is what the operator last learned from EMQX about a cluster.
type Reading struct {
	Nodes       []emqxapi.Node
	Answered    emqxapi.Endpoint // the node that answered the node list
	Unreachable []string         // pods that did not answer it
	Evacuations []emqxapi.Evacuation
	License     *emqxapi.License // nil: no licence API (EMQX CE) or no answer
	DS          *dsrepl.Reading  // nil: not read (a release without durable storage) or no answer
}

// Decision is what one pass may read, and the last reading for what it does not read.
type Decision struct {
	Read Topic
	Last Reading
}

// Poller remembers, per cluster, the last reading of a stable cluster and when the next read is due.
// A nil Poller (or a zero interval) reads everything on every pass.
type Poller struct {
	interval time.Duration
	jitter   func(max time.Duration) time.Duration

	mu    sync.Mutex
	memos map[string]memo
}

type memo struct {
	fingerprint string
	due         time.Time
	turn        int
	reading     Reading
}

// New returns a poller reading a stable cluster once per interval, plus up to interval/10 at random.
func New(interval time.Duration) *Poller {
	return &Poller{interval: interval, memos: map[string]memo{}, jitter: func(max time.Duration) time.Duration {
		if max <= 0 {
			return 0
		}
		return rand.N(max)
	}}
}

// WithoutJitter makes the interval exact (tests).
func (p *Poller) WithoutJitter() *Poller {
	p.jitter = func(time.Duration) time.Duration { return 0 }
	return p
}

// Decide says what a pass over the cluster may read at now, given the fingerprint of what the
// cluster looks like in Kubernetes.
func (p *Poller) Decide(cluster, fingerprint string, now time.Time) Decision {
	if p == nil || p.interval <= 0 {
		return Decision{Read: Everything}
	}
	p.mu.Lock()
	m, ok := p.memos[cluster]
	p.mu.Unlock()
	switch {
	case !ok || m.fingerprint != fingerprint:
		return Decision{Read: Everything}
	case now.Before(m.due):
		return Decision{Read: Nothing, Last: m.reading}
	default:
		return Decision{Read: cycle[m.turn%len(cycle)], Last: m.reading}
	}
}

// Remember records the reading of a pass that found the cluster stable, and returns when the next
// read is due. read is what the pass read (its Decision, or Everything when it read more).
func (p *Poller) Remember(cluster, fingerprint string, r Reading, read Topic, now time.Time) time.Time {
	if p == nil || p.interval <= 0 {
		return time.Time{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.memos[cluster]
	switch {
	case !ok || read == Everything:
		m = memo{turn: 0, due: now.Add(p.interval + p.jitter(p.interval/10))}
	case read != Nothing:
		m.turn++
		m.due = now.Add(p.interval + p.jitter(p.interval/10))
	}
	m.fingerprint, m.reading = fingerprint, r
	p.memos[cluster] = m
	return m.due
}

// Forget drops a cluster's reading: it is changing, or gone. Its next pass reads everything.
func (p *Poller) Forget(cluster string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.memos, cluster)
	p.mu.Unlock()
}
