package pipeline

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Worker sizing. A pass of a stable cluster takes milliseconds, but one of a converging cluster
// waits on EMQX (up to its timeout for each core that does not answer), so a fleet needs workers
// in proportion to its size: one per ClustersPerWorker clusters, never fewer than MinWorkers (a
// cluster that hangs its pass must not stop all the others), never more than the ceiling.
const (
	ClustersPerWorker = 10
	MinWorkers        = 4
	// DefaultWorkerCeiling is the ceiling when watches.yaml sets no maxConcurrentReconciles for
	// the kind (set, that value is the ceiling).
	DefaultWorkerCeiling = 32
)

// Workers reports the worker limit of each kind's controller.
var Workers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "emqx_operator_reconcile_workers",
	Help: "How many passes of the kind may run at once: sized from the number of its resources, capped by maxConcurrentReconciles.",
}, []string{"kind"})

func init() { metrics.Registry.MustRegister(Workers) }

// WorkerGate sizes a controller's concurrency from the fleet. The controller runs the ceiling's
// number of workers (controller-runtime fixes that at start); the gate lets only as many passes run
// at once as the fleet's current size calls for. Counting resources through the informer's add
// and delete events costs nothing per pass. A nil gate admits every pass.
//
// The wait happens inside Reconcile: controller-runtime's reconcile time and active-worker
// metrics include it, and waiting passes enter in no particular order (the workqueue's order
// stops at the gate). Each cluster is still reconciled by one worker at a time.
type WorkerGate struct {
	kind    string
	ceiling int

	mu      sync.Mutex
	fleet   int
	running int
	changed chan struct{} // closed (and replaced) whenever a pass may start that could not
}

// NewWorkerGate returns a gate for a kind whose controller runs ceiling workers (<= 0: the default).
func NewWorkerGate(kind string, ceiling int) *WorkerGate {
	if ceiling <= 0 {
		ceiling = DefaultWorkerCeiling
	}
	g := &WorkerGate{kind: kind, ceiling: ceiling, changed: make(chan struct{})}
	Workers.WithLabelValues(kind).Set(float64(g.limitLocked()))
	return g
}

// Limit is how many passes may run at once now.
func (g *WorkerGate) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limitLocked()
}

// Ceiling is the number of workers the controller runs.
func (g *WorkerGate) Ceiling() int { return g.ceiling }

// WorkersFor is the limit for a fleet of n resources under a ceiling.
func WorkersFor(n, ceiling int) int {
	w := max((n+ClustersPerWorker-1)/ClustersPerWorker, MinWorkers)
	return max(min(w, ceiling), 1)
}

func (g *WorkerGate) limitLocked() int { return WorkersFor(g.fleet, g.ceiling) }

// Added and Removed count the kind's resources (the informer's add and delete events).
func (g *WorkerGate) Added()   { g.resize(+1) }
func (g *WorkerGate) Removed() { g.resize(-1) }

// Counter counts the kind's resources: an event handler for a watch of the kind beside the
// controller's For (controller-runtime shares one informer per kind: no second watch). It counts
// the informer's create and delete events and enqueues nothing. Riding the controller's watch,
// rather than asking the cache for the informer at setup, makes the count wait for the kind's
// CRD as the controller does: an operator started before its CRDs are established waits for them
// instead of exiting. A nil gate counts nothing.
func (g *WorkerGate) Counter() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(context.Context, event.CreateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			g.Added()
		},
		DeleteFunc: func(context.Context, event.DeleteEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			g.Removed()
		},
	}
}

func (g *WorkerGate) resize(delta int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fleet = max(g.fleet+delta, 0)
	Workers.WithLabelValues(g.kind).Set(float64(g.limitLocked()))
	g.wakeLocked()
}

func (g *WorkerGate) wakeLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Enter waits for a free slot and returns its release; it gives up when ctx ends (the manager is
// stopping), returning ctx's error.
func (g *WorkerGate) Enter(ctx context.Context) (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	for {
		g.mu.Lock()
		if g.running < g.limitLocked() {
			g.running++
			g.mu.Unlock()
			var once sync.Once
			return func() { once.Do(g.leave) }, nil
		}
		wait := g.changed
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return func() {}, ctx.Err()
		}
	}
}

func (g *WorkerGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	g.wakeLocked()
}
