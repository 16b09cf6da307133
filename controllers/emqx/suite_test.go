package emqx

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/controllers/internal/testenv"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxapi/emqxapitest"
	"github.com/broker-ops/emqx-operator/internal/render"
)

// The package's tests run on the controllers' shared envtest suite (controllers/internal/testenv),
// under the names they have always used.
var (
	scheme     *runtime.Scheme
	mgrClient  client.Client
	apiReader  client.Reader
	directAPI  client.Client
	recorder   = testenv.Recorder
	renderer   *render.Renderer
	fakeEMQX   *emqxapitest.Server
	askedHosts = testenv.AskedHosts
)

func TestMain(m *testing.M) {
	testenv.Main(m, func() {
		scheme, mgrClient, apiReader, directAPI = testenv.Scheme, testenv.MgrClient, testenv.APIReader, testenv.DirectAPI
		renderer, fakeEMQX = testenv.Renderer, testenv.FakeEMQX
	})
}

var (
	newNamespace         = testenv.NewNamespace
	reconcileOnce        = testenv.ReconcileOnce
	eventually           = testenv.Eventually
	newEMQX              = testenv.NewEMQX
	create               = testenv.Create
	get                  = testenv.Get
	getEMQX              = testenv.GetEMQX
	operatorKey          = testenv.OperatorKey
	setStatefulSetStatus = testenv.SetStatefulSetStatus
	createPods           = testenv.CreatePods
	runningNodes         = testenv.RunningNodes
	waitForCache         = testenv.WaitForCache
	waitForPodsInCache   = testenv.WaitForPodsInCache
	mustQuantity         = testenv.MustQuantity
	newEMQXClient        = testenv.NewEMQXClient
	metaOf               = testenv.MetaOf
	listOf               = testenv.ListOf
	countEvents          = testenv.CountEvents
	waitForEvent         = testenv.WaitForEvent
)

type (
	autoscalingScale = autoscalingv1.Scale
	metaCondition    = metav1.Condition
	emqxClientCreds  = emqxapi.Credentials
	emqxClient       = emqxapi.Client
	counts           = testenv.Counts
)

// newReconciler returns a reconciler whose writes and uncached reads are counted.
func newReconciler() (*EMQXReconciler, *counts) {
	c, live, n := testenv.Counted()
	return &EMQXReconciler{Client: c, APIReader: live, Scheme: scheme, Recorder: recorder, Renderer: renderer,
		EMQXClients: testenv.EMQXClients, ApplyMemo: apply.NewUpToDateMemo()}, n
}
