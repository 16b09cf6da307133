package benchscale

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// applyWorkers: both sides apply their objects with this many requests in flight, so neither
// side is paced by its client.
const applyWorkers = 16

// fastClient is a client without a client-side rate limit.
func fastClient(t *testing.T) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cl, err := client.New(cfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// fleetYAML is N EMQX resources of plan.Cores cores each, as a user writes them.
func fleetYAML(ns string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: apps.emqx.io/v2beta1
kind: EMQX
metadata:
  name: c%03d
  namespace: %s
spec:
  image: emqx/emqx-enterprise:5.8.6
  coreTemplate:
    spec:
      replicas: %d
`, i, ns, plan.Cores)
	}
	return b.String()
}

// decodeAll reads every YAML document of a stream as an unstructured object.
func decodeAll(t *testing.T, r io.Reader) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding YAML: %v", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// groupByCluster groups rendered objects by their cluster (the instance label), each group in
// the order rendered (the operator's apply order).
func groupByCluster(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	index := map[string]int{}
	var groups [][]*unstructured.Unstructured
	for _, u := range objs {
		// Offline, render names the owner without a UID; applied bare, the objects have none.
		u.SetOwnerReferences(nil)
		c := u.GetLabels()[v2beta1.LabelInstance]
		i, ok := index[c]
		if !ok {
			i = len(groups)
			index[c] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], u)
	}
	return groups
}

// applyAll server-side applies each group's objects in order (a group stops at its first
// error), applyWorkers groups at a time.
func applyAll(t *testing.T, cl client.Client, groups [][]*unstructured.Unstructured) {
	t.Helper()
	work := make(chan []*unstructured.Unstructured)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range applyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				for _, o := range g {
					if err := applyObject(cl, o); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// eachAlone makes every object a group of its own (the EMQX resources: independent).
func eachAlone(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	out := make([][]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = []*unstructured.Unstructured{o}
	}
	return out
}

func applyObject(cl client.Client, u *unstructured.Unstructured) error {
	ctx, cancel := harness.Ctx()
	defer cancel()
	u = u.DeepCopy()
	if err := cl.Patch(ctx, u, client.Apply, client.FieldOwner("bench-scale"), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

func createNamespace(t *testing.T, cl client.Client, ns string) {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
}

// deleteNamespace deletes a run's namespace and waits until it is gone, so that runs do not
// overlap. Pods are deleted without their grace period: their EMQX nodes' evacuation on stop is
// not what is measured.
func deleteNamespace(t *testing.T, cl client.Client, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := cl.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	for {
		err := cl.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
		if apierrors.IsNotFound(err) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("namespace %s not gone in 10 minutes: %v", ns, err)
		}
		// Retried every second until the namespace is gone; the deadline above is what fails.
		if err := cl.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
			t.Logf("deleting the pods of %s: %v", ns, err)
		}
		time.Sleep(time.Second)
	}
}

func renderedFleet(t *testing.T, rendered []byte) [][]*unstructured.Unstructured {
	t.Helper()
	return groupByCluster(decodeAll(t, bytes.NewReader(rendered)))
}
