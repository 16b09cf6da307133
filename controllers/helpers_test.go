package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// counts are the API calls one reconciler made.
type counts struct {
	writes, uncachedReads atomic.Int64
}

func (c *counts) reset() { c.writes.Store(0); c.uncachedReads.Store(0) }

type countingClient struct {
	client.Client
	c *counts
}

func (cc *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if !isDryRun(opts) {
		cc.c.writes.Add(1)
	}
	return cc.Client.Create(ctx, obj, opts...)
}

func isDryRun(opts []client.CreateOption) bool {
	o := &client.CreateOptions{}
	o.ApplyOptions(opts)
	return len(o.DryRun) > 0
}

func (cc *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	cc.c.writes.Add(1)
	return cc.Client.Update(ctx, obj, opts...)
}

func (cc *countingClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	cc.c.writes.Add(1)
	return cc.Client.Patch(ctx, obj, p, opts...)
}

func (cc *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	cc.c.writes.Add(1)
	return cc.Client.Apply(ctx, obj, opts...)
}

func (cc *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	cc.c.writes.Add(1)
	return cc.Client.Delete(ctx, obj, opts...)
}

func (cc *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: cc.Client.Status(), c: cc.c}
}

type countingStatus struct {
	client.SubResourceWriter
	c *counts
}

func (cs *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	cs.c.writes.Add(1)
	return cs.SubResourceWriter.Update(ctx, obj, opts...)
}

func (cs *countingStatus) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	cs.c.writes.Add(1)
	return cs.SubResourceWriter.Patch(ctx, obj, p, opts...)
}

type countingReader struct {
	client.Reader
	c *counts
}

func (cr *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	cr.c.uncachedReads.Add(1)
	return cr.Reader.Get(ctx, key, obj, opts...)
}

func (cr *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	cr.c.uncachedReads.Add(1)
	return cr.Reader.List(ctx, list, opts...)
}

// recorderHolder lets the suite set the recorder after the manager starts.
type recorderHolder struct{ events.EventRecorder }

func namespaceObject(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// reconcileOnce runs one reconcile of a cluster.
func reconcileOnce(t testing.TB, r *EMQXReconciler, ns, name string) ctrl.Result {
	t.Helper()
	// The reconciler reads the cluster from the cache: wait until it shows the last status write,
	// as the next event-driven reconcile would (a stale copy makes the status write conflict, and
	// the reconciler then drops it and looks again later, which a single call would not see).
	if e := (&v2beta1.EMQX{}); directAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, e) == nil {
		waitForCache(t, e)
	}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

// eventually retries fn until it returns nil or the timeout passes. The manager's cache lags
// the API server by a few milliseconds, so a test waits for it before the next reconcile.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
