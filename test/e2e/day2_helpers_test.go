package e2e

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

func nodeOf(ns, cluster, pod string) string {
	return "emqx@" + pod + "." + cluster + "-headless." + ns + ".svc.cluster.local"
}

// update changes a cluster's spec with retries on conflict.
func update(t *testing.T, ns, name string, mutate func(*v2beta1.EMQX)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ctx, cancel := harness.Ctx()
		defer cancel()
		e := &v2beta1.EMQX{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, e); err != nil {
			return err
		}
		mutate(e)
		return env.Client.Update(ctx, e)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func pods(t testing.TB, ns string) []corev1.Pod {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	list := &corev1.PodList{}
	if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func statefulSet(t testing.TB, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	s := &appsv1.StatefulSet{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// connect gives every running node of a namespace n simulated clients.
func connect(t *testing.T, ns string, n int64) int64 {
	t.Helper()
	nodes, err := env.Sim.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, node := range nodes {
		if strings.HasPrefix(node.Pod, ns+"/") && node.State == "running" {
			if err := env.Sim.SetConnections(node.Name, n); err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	return total
}

func simNodes(t *testing.T, ns string) map[string]simNode {
	t.Helper()
	nodes, err := env.Sim.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]simNode{}
	for _, n := range nodes {
		if strings.HasPrefix(n.Pod, ns+"/") {
			out[n.Name] = simNode{state: n.State, version: n.Version, conns: n.Connections, cluster: n.Cluster}
		}
	}
	return out
}

type simNode struct {
	state, version string
	conns          int64
	cluster        int
}

// eventsWithReason lists events of a reason, oldest first.
func eventsWithReason(t *testing.T, ns, reason string) []eventsv1.Event {
	t.Helper()
	var out []eventsv1.Event
	for _, e := range env.Events(t, ns) {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return eventTime(out[i]).Before(eventTime(out[j])) })
	return out
}

func eventTime(e eventsv1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.DeprecatedLastTimestamp.Time
}

// unavailableSampler counts, every 100 ms, the wanted pods of a namespace that are not Ready.
type unavailableSampler struct {
	mu      sync.Mutex
	max     int
	worst   string
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func sampleUnavailable(t *testing.T, ns string, want int) *unavailableSampler {
	s := &unavailableSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			ready := 0
			var down []string
			for _, p := range pods(t, ns) {
				if harness.PodReady(&p) {
					ready++
				} else {
					down = append(down, p.Name)
				}
			}
			s.mu.Lock()
			s.samples++
			if n := want - ready; n > s.max {
				s.max, s.worst = n, fmt.Sprint(down)
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *unavailableSampler) finish() (int, string, int) {
	close(s.stop)
	<-s.done
	return s.max, s.worst, s.samples
}

// connectedClients sums the clients of a namespace's running nodes.
func connectedClients(t *testing.T, ns string) int64 {
	t.Helper()
	var total int64
	for _, n := range simNodes(t, ns) {
		if n.state == "running" {
			total += n.conns
		}
	}
	return total
}
