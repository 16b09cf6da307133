package emqx

import (
	"testing"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers"
	"github.com/broker-ops/emqx-operator/controllers/internal/testenv"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// Setting the controller up needs none of the operator's kinds: an operator started before its
// CRDs are established (one `kubectl apply` of CRDs and Deployment) must wait for them in its
// watches, as controller-runtime's do, not exit at setup. The manager's RESTMapper here knows no
// apps.emqx.io kind (the worker gate once asked the cache for the EMQX informer at setup, and the
// operator exited with "no matches for kind").
func TestSetupNeedsNoCRD(t *testing.T) {
	mgr, err := ctrl.NewManager(testenv.Cfg, ctrl.Options{
		MapperProvider: testenv.MapperWithoutGroup(v2beta1.GroupVersion.Group),
		Scheme:         scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: controllers.CacheOptions(nil), Client: controllers.ClientOptions(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newReconciler()
	r.Workers = pipeline.NewWorkerGate("EMQXSetupTest", 0)
	if err := r.SetupWithManager(mgr, r.Workers.Ceiling()); err != nil {
		t.Fatalf("setup needs the CRDs: %v", err)
	}
}
