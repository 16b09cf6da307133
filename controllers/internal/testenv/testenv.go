// Package testenv is the controllers' envtest suite: one real kube-apiserver + etcd (envtest,
// binaries built by hack/tools.sh) and a manager whose cache is configured exactly as in
// production, shared by the tests of every reconciler package. Tests drive Reconcile directly, so
// they can count the API calls one reconcile makes. envtest has no controller-manager: no pods,
// no StatefulSet status and no garbage collection unless a test writes them.
package testenv

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
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/emqxapi/emqxapitest"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/values"
)

var (
	testEnv    *envtest.Environment
	Cfg        *rest.Config
	Scheme     *runtime.Scheme
	MgrClient  client.Client
	APIReader  client.Reader
	DirectAPI  client.Client
	Recorder   = &RecorderHolder{}
	Renderer   *render.Renderer
	FakeEMQX   *emqxapitest.Server
	AskedHosts = &HostLog{}
)

// Main is a reconciler package's TestMain: it starts the suite, runs the package's tests (after
// ready, which copies the suite's clients into the package's own names) and stops the suite.
func Main(m *testing.M, ready func()) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run these tests with `make test-envtest`, which builds etcd and kube-apiserver")
		os.Exit(1)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.InfoLevel), zap.WriteTo(os.Stderr)))
	os.Exit(run(m, ready))
}

func run(m *testing.M, ready func()) int {
	testEnv = &envtest.Environment{
		// Tests run in their package's folder, controllers/<concern>.
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if Cfg, err = testEnv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()

	Scheme = runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(v2beta1.AddToScheme(Scheme))
	utilruntime.Must(v1beta2.AddToScheme(Scheme))

	mgr, err := ctrl.NewManager(Cfg, ctrl.Options{
		Scheme:  Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(nil),
		Client:  controllers.ClientOptions(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := controllers.IndexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "cache did not sync")
		return 1
	}
	MgrClient, APIReader = mgr.GetClient(), mgr.GetAPIReader()
	Recorder.EventRecorder = mgr.GetEventRecorder("emqx-operator")
	if DirectAPI, err = client.New(Cfg, client.Options{Scheme: Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	if Renderer, err = render.New(); err != nil {
		fmt.Fprintln(os.Stderr, "renderer:", err)
		return 1
	}
	FakeEMQX = emqxapitest.New()
	defer FakeEMQX.Close()
	ready()
	return m.Run()
}

// HostLog records which base URLs the operator asked, to check it reaches pods by pod IP.
type HostLog struct{ hosts atomic.Value }

func (h *HostLog) Add(u string) {
	old, _ := h.hosts.Load().([]string)
	h.hosts.Store(append(append([]string{}, old...), u))
}

func (h *HostLog) All() []string { v, _ := h.hosts.Load().([]string); return v }

// EMQXClients is an EMQX client factory that sends every request to the fake EMQX and logs which
// pod it was meant for.
func EMQXClients(baseURL string, creds emqxapi.Credentials) *emqxapi.Client {
	AskedHosts.Add(baseURL)
	return emqxapi.New(FakeEMQX.URL, creds, nil)
}

// Counted wraps the manager's client and API reader so that writes and uncached reads are counted.
func Counted() (client.Client, client.Reader, *Counts) {
	c := &Counts{}
	return &CountingClient{Client: MgrClient, c: c}, &CountingReader{Reader: APIReader, c: c}, c
}

// NewNamespace creates a namespace for one test.
func NewNamespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	name = strings.ReplaceAll(name, "_", "-")
	if len(name) > 50 {
		name = name[:50]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), time.Now().UnixNano()%100000)
	ns := namespaceObject(name, labels)
	if err := DirectAPI.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

// Counts are the API calls one reconciler made.
type Counts struct {
	Writes, UncachedReads atomic.Int64
}

// Reset starts counting again.
func (c *Counts) Reset() { c.Writes.Store(0); c.UncachedReads.Store(0) }

type CountingClient struct {
	client.Client
	c *Counts
}

func (cc *CountingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if !isDryRun(opts) {
		cc.c.Writes.Add(1)
	}
	return cc.Client.Create(ctx, obj, opts...)
}

func isDryRun(opts []client.CreateOption) bool {
	o := &client.CreateOptions{}
	o.ApplyOptions(opts)
	return len(o.DryRun) > 0
}

func (cc *CountingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	cc.c.Writes.Add(1)
	return cc.Client.Update(ctx, obj, opts...)
}

func (cc *CountingClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	cc.c.Writes.Add(1)
	return cc.Client.Patch(ctx, obj, p, opts...)
}

func (cc *CountingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	cc.c.Writes.Add(1)
	return cc.Client.Apply(ctx, obj, opts...)
}

func (cc *CountingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	cc.c.Writes.Add(1)
	return cc.Client.Delete(ctx, obj, opts...)
}

func (cc *CountingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: cc.Client.Status(), c: cc.c}
}

type countingStatus struct {
	client.SubResourceWriter
	c *Counts
}

func (cs *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	cs.c.Writes.Add(1)
	return cs.SubResourceWriter.Update(ctx, obj, opts...)
}

func (cs *countingStatus) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	cs.c.Writes.Add(1)
	return cs.SubResourceWriter.Patch(ctx, obj, p, opts...)
}

type CountingReader struct {
	client.Reader
	c *Counts
}

func (cr *CountingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	cr.c.UncachedReads.Add(1)
	return cr.Reader.Get(ctx, key, obj, opts...)
}

func (cr *CountingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	cr.c.UncachedReads.Add(1)
	return cr.Reader.List(ctx, list, opts...)
}

// RecorderHolder lets the suite set the Recorder after the manager starts.
type RecorderHolder struct{ events.EventRecorder }

func namespaceObject(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// ReconcileOnce runs one reconcile of a cluster.
func ReconcileOnce(t testing.TB, r reconcile.Reconciler, ns, name string) ctrl.Result {
	t.Helper()
	// The reconciler reads the cluster from the cache: wait until it shows the last status write,
	// as the next event-driven reconcile would (a stale copy makes the status write conflict, and
	// the reconciler then drops it and looks again later, which a single call would not see).
	if e := (&v2beta1.EMQX{}); DirectAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, e) == nil {
		WaitForCache(t, e)
	}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

// Eventually retries fn until it returns nil or the timeout passes. The manager's cache lags
// the API server by a few milliseconds, so a test waits for it before the next reconcile.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
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

func NewEMQX(ns, name string, cores, replicants int32) *v2beta1.EMQX {
	e := &v2beta1.EMQX{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.EMQXSpec{
			Image: "emqx/emqx-enterprise:5.8.6",
			CoreTemplate: v2beta1.CoreTemplate{Spec: v2beta1.CoreTemplateSpec{
				ReplicantTemplateSpec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(cores)},
				VolumeClaimTemplates: corev1.PersistentVolumeClaimSpec{
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: MustQuantity("1Gi")}},
				},
			}},
		},
	}
	if replicants > 0 {
		e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(replicants)}}
	}
	return e
}

func Create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := DirectAPI.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	if _, ok := obj.(*v2beta1.EMQX); ok {
		WaitForCache(t, obj)
	}
}

func Get(t testing.TB, ns, name string, obj client.Object) {
	t.Helper()
	if err := DirectAPI.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("getting %T %s: %v", obj, name, err)
	}
}

func GetEMQX(t testing.TB, ns, name string) *v2beta1.EMQX {
	t.Helper()
	e := &v2beta1.EMQX{}
	Get(t, ns, name, e)
	return e
}

// OperatorKey reads the operator's generated API key and tells the fake EMQX to accept it,
// as a real node would after reading the bootstrap file.
func OperatorKey(t testing.TB, ns, name string) {
	t.Helper()
	s := &corev1.Secret{}
	Get(t, ns, name+"-operator-api-key", s)
	FakeEMQX.SetCredentials(string(s.Data[values.OperatorKeyKey]), string(s.Data[values.OperatorSecretKey]))
}

// SetStatefulSetStatus writes what the StatefulSet controller would report.
func SetStatefulSetStatus(t testing.TB, ns, name string, replicas, ready int32, revision string) {
	t.Helper()
	s := &appsv1.StatefulSet{}
	Get(t, ns, name, s)
	s.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: s.Generation, Replicas: replicas, ReadyReplicas: ready, AvailableReplicas: ready,
		CurrentReplicas: replicas, UpdatedReplicas: replicas, CurrentRevision: revision, UpdateRevision: revision,
	}
	if err := DirectAPI.Status().Update(context.Background(), s); err != nil {
		t.Fatalf("StatefulSet status: %v", err)
	}
}

// CreatePods creates the pods of a role as the StatefulSet controller would, with pod IPs and
// Ready conditions as the kubelet would report them.
func CreatePods(t testing.TB, e *v2beta1.EMQX, role string, n int32, revision string) []string {
	t.Helper()
	workload := e.CoreWorkloadName()
	if role == v2beta1.RoleReplicant {
		workload = e.ReplicantWorkloadName()
	}
	var names []string
	for i := int32(0); i < n; i++ {
		labels := e.RoleSelectorLabels(role)
		labels[appsv1.ControllerRevisionHashLabelKey] = revision
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: fmt.Sprintf("%s-%d", workload, i), Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "emqx", Image: e.Spec.Image}}},
		}
		Create(t, p)
		p.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: fmt.Sprintf("127.0.%d.%d", roleOctet(role), i+1),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
		}
		if err := DirectAPI.Status().Update(context.Background(), p); err != nil {
			t.Fatalf("pod status: %v", err)
		}
		names = append(names, p.Name)
	}
	return names
}

func roleOctet(role string) int {
	if role == v2beta1.RoleReplicant {
		return 2
	}
	return 1
}

// RunningNodes are the EMQX node entries of pods, as GET /api/v5/nodes lists running nodes.
func RunningNodes(e *v2beta1.EMQX, role string, pods ...string) []emqxapi.Node {
	var out []emqxapi.Node
	for _, p := range pods {
		out = append(out, emqxapi.Node{
			Node: status.NodeName(e, p), NodeStatus: "running", Role: role, Version: "5.8.6",
			Edition: "Enterprise", OTPRelease: "26.2.5-3/14.2.5",
		})
	}
	return out
}

// WaitForCache waits until the manager's cache shows an object at least as new as the API server's.
func WaitForCache(t testing.TB, obj client.Object) {
	t.Helper()
	want := obj.DeepCopyObject().(client.Object)
	if err := DirectAPI.Get(context.Background(), client.ObjectKeyFromObject(obj), want); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 5*time.Second, func() error {
		got := obj.DeepCopyObject().(client.Object)
		if err := MgrClient.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
			return err
		}
		if got.GetResourceVersion() != want.GetResourceVersion() {
			return fmt.Errorf("cache at %s, API at %s", got.GetResourceVersion(), want.GetResourceVersion())
		}
		return nil
	})
}

func WaitForPodsInCache(t testing.TB, e *v2beta1.EMQX, n int) {
	t.Helper()
	Eventually(t, 5*time.Second, func() error {
		pods := &corev1.PodList{}
		if err := MgrClient.List(context.Background(), pods, client.InNamespace(e.Namespace), client.MatchingLabels(e.SelectorLabels())); err != nil {
			return err
		}
		ready := 0
		for i := range pods.Items {
			if status.IsPodReady(&pods.Items[i]) {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d ready pods in cache, want %d", ready, n)
		}
		return nil
	})
}

func MustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func NewEMQXClient(url string, creds emqxapi.Credentials) *emqxapi.Client {
	return emqxapi.New(url, creds, nil)
}

func MetaOf(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func ListOf(o client.Object) client.ObjectList {
	switch o.(type) {
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSetList{}
	case *corev1.ConfigMap:
		return &corev1.ConfigMapList{}
	case *corev1.Secret:
		return &corev1.SecretList{}
	}
	panic("listOf: add the type")
}

func CountEvents(t testing.TB, ns, reason string) int {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := DirectAPI.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

// WaitForEvent waits for an Event with the reason whose note contains text.
func WaitForEvent(t testing.TB, ns, reason, text string) {
	t.Helper()
	Eventually(t, 10*time.Second, func() error {
		list := &eventsv1.EventList{}
		if err := DirectAPI.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.Reason == reason && strings.Contains(ev.Note, text) {
				return nil
			}
			seen = append(seen, ev.Reason+": "+ev.Note)
		}
		return fmt.Errorf("no %s event containing %q; saw %v", reason, text, seen)
	})
}
