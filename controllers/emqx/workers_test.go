package emqx

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers"
	"github.com/broker-ops/emqx-operator/controllers/internal/testenv"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// The worker limit follows the number of EMQX resources the manager's informer holds: up when
// clusters are created, down when they are deleted.
func TestWorkersFollowTheFleet(t *testing.T) {
	ns := newNamespace(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := ctrl.NewManager(testenv.Cfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions([]string{ns}), Client: controllers.ClientOptions(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	gate := pipeline.NewWorkerGate("EMQXFleetTest", 0)
	// Counted as the controllers count: a watch beside For, with the gate's handler.
	err = ctrl.NewControllerManagedBy(mgr).Named("fleet-count-test").
		Watches(&v2beta1.EMQX{}, gate.Counter()).
		Complete(reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return reconcile.Result{}, nil }))
	if err != nil {
		t.Fatal(err)
	}
	// Clusters that exist before the manager starts are counted by the informer's first list.
	for i := range 45 {
		create(t, newEMQX(ns, fmt.Sprintf("c%d", i), 1, 0))
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	limitIs := func(want int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			if got := gate.Limit(); got != want {
				return fmt.Errorf("limit %d, want %d", got, want)
			}
			return nil
		})
	}
	limitIs(pipeline.WorkersFor(45, pipeline.DefaultWorkerCeiling)) // 5
	for i := 45; i < 61; i++ {
		create(t, newEMQX(ns, fmt.Sprintf("c%d", i), 1, 0))
	}
	limitIs(pipeline.WorkersFor(61, pipeline.DefaultWorkerCeiling)) // 7
	for i := 0; i < 31; i++ {
		if err := testenv.DirectAPI.Delete(ctx, newEMQX(ns, fmt.Sprintf("c%d", i), 1, 0)); client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
	}
	limitIs(pipeline.WorkersFor(30, pipeline.DefaultWorkerCeiling)) // 4
}
