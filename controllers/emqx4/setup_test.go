package emqx4

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

// As for EMQX (controllers/emqx TestSetupNeedsNoCRD): setting up the EMQX 4 kinds'
// controllers needs none of the operator's kinds, so an operator started before its CRDs waits for them.
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
	for _, r := range NewEmqx4Reconcilers(Emqx4Reconciler{Client: mgrClient, APIReader: apiReader, Recorder: recorder, Renderer: renderer}, scheme) {
		r.Workers = pipeline.NewWorkerGate(r.Kind+"SetupTest", 0)
		if err := r.SetupWithManager(mgr, r.Workers.Ceiling()); err != nil {
			t.Fatalf("%s: setup needs the CRDs: %v", r.Kind, err)
		}
	}
}
