package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkersFor(t *testing.T) {
	cases := []struct {
		name           string
		fleet, ceiling int
		want           int
	}{
		{"an empty fleet still has the minimum", 0, 32, MinWorkers},
		{"a small fleet has the minimum", 3, 32, MinWorkers},
		{"the minimum up to forty clusters", 40, 32, MinWorkers},
		{"one worker per ten clusters", 100, 32, 10},
		{"a partial ten counts", 101, 32, 11},
		{"capped by the ceiling", 500, 32, 32},
		{"a ceiling set below the minimum wins", 100, 1, 1},
		{"a set ceiling caps a large fleet", 500, 4, 4},
	}
	for _, c := range cases {
		if got := WorkersFor(c.fleet, c.ceiling); got != c.want {
			t.Errorf("%s: WorkersFor(%d, %d) = %d, want %d", c.name, c.fleet, c.ceiling, got, c.want)
		}
	}
}

// At most the limit's passes run at once; a growing fleet lets more in at once.
func TestWorkerGateAdmitsUpToTheFleetsLimit(t *testing.T) {
	g := NewWorkerGate("Test", 32)
	ctx := context.Background()
	var inside, most atomic.Int32
	hold := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := g.Enter(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			<-hold
			inside.Add(-1)
			release()
		}()
	}
	waitFor(t, func() bool { return inside.Load() == MinWorkers })
	time.Sleep(20 * time.Millisecond) // a third pass would have entered by now
	if got := inside.Load(); got != MinWorkers {
		t.Fatalf("%d passes inside with an empty fleet, want %d", got, MinWorkers)
	}
	for range 51 {
		g.Added() // 51 clusters: six workers
	}
	waitFor(t, func() bool { return inside.Load() == 6 })
	close(hold)
	wg.Wait()
	if most.Load() != 6 {
		t.Errorf("at most %d passes ran at once, want 6", most.Load())
	}
}

func TestWorkerGateEnterEndsWithItsContext(t *testing.T) {
	g := NewWorkerGate("Test", 1)
	release, err := g.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := g.Enter(ctx); done <- err }()
	cancel()
	if err := <-done; err == nil {
		t.Error("Enter returned no error after its context ended")
	}
	release()
	release() // a second release frees nothing more
	if r, err := g.Enter(context.Background()); err != nil {
		t.Fatal(err)
	} else {
		r()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running != 0 {
		t.Errorf("running = %d after every release", g.running)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
