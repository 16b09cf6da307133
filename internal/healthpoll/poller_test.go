package healthpoll

import (
	"testing"
	"time"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

var t0 = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	reading := Reading{Nodes: []emqxapi.Node{{Node: "emqx@a"}}}
	cases := []struct {
		name        string
		remembered  bool
		fingerprint string
		at          time.Duration // after the reading
		want        Topic
	}{
		{"a cluster never seen stable is read in full", false, "fp", 0, Everything},
		{"a cluster that changed in Kubernetes is read in full at once", true, "other", time.Second, Everything},
		{"a stable cluster within its interval is not read", true, "fp", 29 * time.Second, Nothing},
		{"a stable cluster at its interval gets one read: the node list first", true, "fp", 30 * time.Second, Nodes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New(30 * time.Second).WithoutJitter()
			if c.remembered {
				p.Remember("ns/c", "fp", reading, Everything, t0)
			}
			d := p.Decide("ns/c", c.fingerprint, t0.Add(c.at))
			if d.Read != c.want {
				t.Fatalf("read %s, want %s", d.Read, c.want)
			}
			if d.Read != Everything && len(d.Last.Nodes) != 1 {
				t.Errorf("the last reading is not handed on: %+v", d.Last)
			}
		})
	}
}

// TestOneReadPerIntervalInTurn: over ten intervals a stable cluster is read ten times, the licence,
// evacuations and durable storage once each, the node list the rest; between the reads, never.
func TestOneReadPerIntervalInTurn(t *testing.T) {
	p := New(30 * time.Second).WithoutJitter()
	due := p.Remember("ns/c", "fp", Reading{}, Everything, t0)
	reads := map[Topic]int{}
	for now := t0; !now.After(t0.Add(300 * time.Second)); now = now.Add(5 * time.Second) {
		d := p.Decide("ns/c", "fp", now)
		if d.Read == Nothing {
			if !now.Before(due) {
				t.Fatalf("at %v nothing read though due at %v", now.Sub(t0), due.Sub(t0))
			}
			continue
		}
		if now.Before(due) {
			t.Fatalf("at %v read %s before due (%v)", now.Sub(t0), d.Read, due.Sub(t0))
		}
		reads[d.Read]++
		due = p.Remember("ns/c", "fp", d.Last, d.Read, now)
	}
	if reads[Nodes] != 7 || reads[License] != 1 || reads[Evacuations] != 1 || reads[DSReplication] != 1 || reads[Everything] != 0 {
		t.Errorf("reads in 300 s: %v", reads)
	}
}

func TestJitterStaysWithinATenth(t *testing.T) {
	p := New(30 * time.Second)
	for i := 0; i < 200; i++ {
		due := p.Remember("ns/c", "fp", Reading{}, Everything, t0)
		if d := due.Sub(t0); d < 30*time.Second || d >= 33*time.Second {
			t.Fatalf("next read %v after the last, want within [30s, 33s)", d)
		}
	}
}

func TestForgetAndDisabled(t *testing.T) {
	p := New(30 * time.Second).WithoutJitter()
	p.Remember("ns/c", "fp", Reading{}, Everything, t0)
	p.Forget("ns/c")
	if d := p.Decide("ns/c", "fp", t0.Add(time.Second)); d.Read != Everything {
		t.Errorf("after Forget: %s", d.Read)
	}
	var none *Poller
	none.Remember("ns/c", "fp", Reading{}, Everything, t0)
	none.Forget("ns/c")
	if d := none.Decide("ns/c", "fp", t0); d.Read != Everything {
		t.Errorf("a nil poller reads %s", d.Read)
	}
	if d := New(0).Decide("ns/c", "fp", t0); d.Read != Everything {
		t.Errorf("a zero interval reads %s", d.Read)
	}
}
