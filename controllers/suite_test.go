package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxapi/emqxapitest"
	"github.com/broker-ops/emqx-operator/internal/render"
)

// The suite runs one real kube-apiserver + etcd (envtest, binaries built by hack/tools.sh) and a
// manager whose cache is configured exactly as in production. Tests drive Reconcile directly, so
// they can count the API calls one reconcile makes. envtest has no controller-manager: no pods,
// no StatefulSet status and no garbage collection unless a test writes them.
var (
	testEnv    *envtest.Environment
	cfg        *rest.Config
	scheme     *runtime.Scheme
	mgrClient  client.Client
	apiReader  client.Reader
	directAPI  client.Client
	recorder   = &recorderHolder{}
	renderer   *render.Renderer
	fakeEMQX   *emqxapitest.Server
	askedHosts = &hostLog{}
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run these tests with `make test-envtest`, which builds etcd and kube-apiserver")
		os.Exit(1)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.InfoLevel), zap.WriteTo(os.Stderr)))
	os.Exit(run(m))
}

func run(m *testing.M) int {
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if cfg, err = testEnv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()

	scheme = runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v2beta1.AddToScheme(scheme))
	utilruntime.Must(v1beta2.AddToScheme(scheme))

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   CacheOptions(nil),
		Client:  ClientOptions(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "cache did not sync")
		return 1
	}
	mgrClient, apiReader = mgr.GetClient(), mgr.GetAPIReader()
	recorder.EventRecorder = mgr.GetEventRecorder("emqx-operator")
	if directAPI, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	if renderer, err = render.New(); err != nil {
		fmt.Fprintln(os.Stderr, "renderer:", err)
		return 1
	}
	fakeEMQX = emqxapitest.New()
	defer fakeEMQX.Close()
	return m.Run()
}

// hostLog records which base URLs the operator asked, to check it reaches pods by pod IP.
type hostLog struct{ hosts atomic.Value }

func (h *hostLog) add(u string) {
	old, _ := h.hosts.Load().([]string)
	h.hosts.Store(append(append([]string{}, old...), u))
}

func (h *hostLog) all() []string { v, _ := h.hosts.Load().([]string); return v }

// newReconciler returns a reconciler whose writes and uncached reads are counted.
func newReconciler() (*EMQXReconciler, *counts) {
	c := &counts{}
	return &EMQXReconciler{
		Client:    &countingClient{Client: mgrClient, c: c},
		APIReader: &countingReader{Reader: apiReader, c: c},
		Scheme:    scheme,
		Recorder:  recorder,
		Renderer:  renderer,
		EMQXClients: func(baseURL string, creds emqxapi.Credentials) *emqxapi.Client {
			askedHosts.add(baseURL)
			return emqxapi.New(fakeEMQX.URL, creds, nil)
		},
	}, c
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	name = strings.ReplaceAll(name, "_", "-")
	if len(name) > 50 {
		name = name[:50]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), time.Now().UnixNano()%100000)
	ns := namespaceObject(name, labels)
	if err := directAPI.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}
