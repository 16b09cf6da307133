package benchscale

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// readyWatch counts the Ready objects of one kind in one namespace from a watch's events: no
// list, no copy, no polling period between the last Ready and the moment it is seen.
type readyWatch struct {
	cancel context.CancelFunc

	mu        sync.Mutex
	ready     map[string]bool
	count     int
	want      int
	reachedAt time.Time
	reached   chan struct{}
}

func podReady(o any) bool {
	p, ok := o.(*corev1.Pod)
	return ok && harness.PodReady(p)
}

// emqxReady: the Ready condition True for the resource's current generation.
func emqxReady(o any) bool {
	e, ok := o.(*v2beta1.EMQX)
	if !ok {
		return false
	}
	c := meta.FindStatusCondition(e.Status.Conditions, v2beta1.Ready)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == e.Generation
}

// watchReady starts counting obj's kind in ns until want of them are Ready.
func watchReady(t *testing.T, ns string, obj client.Object, want int, isReady func(any) bool) *readyWatch {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cfg, cache.Options{Scheme: harness.Scheme(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &readyWatch{cancel: cancel, ready: map[string]bool{}, want: want, reached: make(chan struct{})}
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.set(o, isReady(o)) },
		UpdateFunc: func(_, o any) { w.set(o, isReady(o)) },
		DeleteFunc: func(o any) { w.set(o, false) },
	}); err != nil {
		cancel()
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- c.Start(ctx) }()
	syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
	defer syncCancel()
	if !c.WaitForCacheSync(syncCtx) {
		cancel()
		select {
		case err := <-started:
			t.Fatalf("the benchmark's watch of %s stopped: %v", ns, err)
		default:
			t.Fatalf("the benchmark's watch of %s did not sync in a minute", ns)
		}
	}
	return w
}

func (w *readyWatch) set(o any, ready bool) {
	key, err := toolscache.DeletionHandlingMetaNamespaceKeyFunc(o)
	if err != nil {
		return // not an object: nothing to count
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ready[key] != ready {
		w.ready[key] = ready
		if ready {
			w.count++
		} else {
			w.count--
		}
	}
	if w.count >= w.want && w.reachedAt.IsZero() {
		w.reachedAt = time.Now()
		close(w.reached)
	}
}

// wait returns when the count was first reached; it fails the test after 30 minutes.
func (w *readyWatch) wait(t *testing.T, what string) time.Time {
	t.Helper()
	select {
	case <-w.reached:
	case <-time.After(30 * time.Minute):
		w.mu.Lock()
		defer w.mu.Unlock()
		t.Fatalf("%s: %d of %d Ready after 30 minutes", what, w.count, w.want)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reachedAt
}

func (w *readyWatch) stop() { w.cancel() }
