// Command manager is the emqx-operator. With no subcommand it runs the operator; `backup` takes one
// EMQX data backup (what backup Jobs run; `backup --delete` deletes an archive); `restore` imports
// one (what restore Jobs run); `migrate check|crds` takes over the vendor operator's CRDs; `render -f FILE`
// prints what it would apply for the EMQX resources in FILE, without a cluster.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	operatorsv2 "github.com/operator-framework/api/pkg/operators/v2"
	"github.com/operator-framework/operator-lib/proxy"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"k8s.io/client-go/kubernetes"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers"
	"github.com/broker-ops/emqx-operator/controllers/backup"
	"github.com/broker-ops/emqx-operator/controllers/emqx"
	"github.com/broker-ops/emqx-operator/controllers/emqx4"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/controllers/plugin"
	"github.com/broker-ops/emqx-operator/internal/apply"
	"github.com/broker-ops/emqx-operator/internal/cli"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/fleetmetrics"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/olm"
	"github.com/broker-ops/emqx-operator/internal/podexec"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/watches"
)

func main() {
	// `render` shows what watches.yaml's overrideValues change, as the operator would apply them.
	cli.WatchesYAML = watchesYAML
	if len(os.Args) > 1 && os.Args[1] == "render" {
		os.Exit(cli.Render(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "backup" {
		os.Exit(cli.Backup(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "restore" {
		os.Exit(cli.Restore(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		os.Exit(cli.Migrate(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(runManager(os.Args[1:]))
}

// DefaultImage is this release's operator image, which backup Jobs run unless OPERATOR_IMAGE
// (set by every install path) or --backup-image says otherwise.
const DefaultImage = "quay.io/broker-ops/emqx-operator:v0.1.0"

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// metricsOptions serves metrics the way operator-sdk projects do: HTTPS, each caller's token checked
// with a TokenReview and its right to get /metrics with a SubjectAccessReview, so the operator's
// fleet view (every cluster's name, licence and certificate dates) is not open to every pod. HTTP/2
// is off: its rapid-reset and stream-cancellation attacks (CVE-2023-44487, CVE-2023-39325) reach
// servers like this one, and Prometheus scrapes over HTTP/1.1.
func metricsOptions(addr string, secure bool, certDir string) metricsserver.Options {
	o := metricsserver.Options{BindAddress: addr, SecureServing: secure}
	if !secure {
		return o
	}
	o.FilterProvider = filters.WithAuthenticationAndAuthorization
	o.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	if certDir != "" {
		o.CertDir, o.CertName, o.KeyName = certDir, "tls.crt", "tls.key"
	}
	return o
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v2beta1.AddToScheme(s))
	utilruntime.Must(v1beta2.AddToScheme(s))
	utilruntime.Must(operatorsv2.AddToScheme(s))  // OLM's OperatorCondition
	utilruntime.Must(monitoringv1.AddToScheme(s)) // the Prometheus Operator's PodMonitor (spec.monitoring)
	return s
}

func runManager(args []string) int {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-bind-address", ":8443", `metrics endpoint address ("0" disables it)`)
	secureMetrics := fs.Bool("metrics-secure", true,
		"serve metrics over HTTPS, to callers whose token the API server authenticates and allows to get /metrics (false: plain HTTP to anyone)")
	metricsCertDir := fs.String("metrics-cert-dir", "",
		"directory with tls.crt and tls.key for the metrics endpoint, reloaded when they change (default: a self-signed certificate made at start)")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "health and readiness probe address")
	pprofAddr := fs.String("pprof-bind-address", "0", "address of Go's profiling endpoints (/debug/pprof/); \"0\" (the default) serves none. Unauthenticated: bind it to loopback and reach it with kubectl port-forward")
	leaderElect := fs.Bool("leader-elect", true, "elect a leader (a Lease), so only one replica acts")
	leaseNamespace := fs.String("leader-election-namespace", "", "namespace of the leader Lease (default: the pod's namespace)")
	watchesFile := fs.String("watches-file", "", "watches.yaml to use instead of the compiled-in one")
	secretPropagation := fs.Duration("secret-propagation", emqx4.DefaultSecretPropagation,
		"how long the kubelet may take to update a mounted Secret; an EMQX 4 listener is restarted for a new certificate after it")
	joinTimeout := fs.Duration("join-timeout", lifecycle.DefaultJoinTimeout, "how long a Ready EMQX node may stay out of its cluster before the operator invites it")
	healthInterval := fs.Duration("emqx-health-interval", healthpoll.DefaultInterval,
		"how often the operator reads a stable EMQX cluster's API: one read per interval, more at once when the cluster changes (0: every pass reads everything)")
	maxRollouts := fs.Int("max-concurrent-rollouts", 3, "how many clusters may scale in or roll at once across the operator (0: no limit)")
	backupImage := fs.String("backup-image", envOr("OPERATOR_IMAGE", DefaultImage),
		"the operator's own image, which backup Jobs run (default: $OPERATOR_IMAGE)")
	readerImage := fs.String("package-reader-image", envOr("RELATED_IMAGE_PACKAGE_READER", plugin.DefaultReaderImage),
		"the image of the pods that read plugin packages from PersistentVolumeClaims; it needs cat and sleep (default: $RELATED_IMAGE_PACKAGE_READER)")
	// client-go's own limiter (controller-runtime sets 20/s, burst 30) would pace a fleet's first
	// passes far below what the API server allows; the API server's priority and fairness is the
	// limit that matters. 50/100 suits a shared control plane; -1 turns the client's limiter off.
	kubeQPS := fs.Float64("kube-api-qps", 50, "requests per second the operator sends to the Kubernetes API at most (-1: no client-side limit)")
	kubeBurst := fs.Int("kube-api-burst", 100, "requests the operator may send at once above --kube-api-qps")
	zapOpts := zap.Options{Development: false, TimeEncoder: zapcore.ISO8601TimeEncoder}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setupLog := ctrl.Log.WithName("setup")
	// The Go runtime does not know the container's memory limit: without a soft limit under it,
	// the heap grows past the cgroup's limit before a collection runs and the pod is OOM-killed
	// (the vendor's operator at 128 MiB, emqx/emqx-operator#1206). 90 % of the cgroup limit leaves
	// room for what the runtime does not count; GOMEMLIMIT or AUTOMEMLIMIT=off in the environment win.
	switch limit, err := memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup)); {
	case err != nil:
		setupLog.Info("no Go memory limit from the cgroup", "reason", err.Error())
	case limit < math.MaxInt64:
		setupLog.Info("Go memory limit set from the cgroup", "GOMEMLIMIT", limit)
	}

	watchData := watchesYAML
	if *watchesFile != "" {
		b, err := os.ReadFile(*watchesFile)
		if err != nil {
			setupLog.Error(err, "reading the watches file")
			return 1
		}
		watchData = b
	}
	ws, err := watches.Parse(watchData)
	if err != nil {
		setupLog.Error(err, "invalid watches file")
		return 1
	}
	emqxWatch, ok := watches.Find(ws, v2beta1.GroupVersion.WithKind("EMQX"))
	if !ok {
		setupLog.Error(fmt.Errorf("no entry for %s", v2beta1.GroupVersion.WithKind("EMQX")), "invalid watches file")
		return 1
	}

	namespaces := watchNamespaces()
	scheme := newScheme()
	if err := checkClientLimits(*kubeQPS, *kubeBurst); err != nil {
		setupLog.Error(err, "invalid flags")
		return 2
	}
	restCfg := ctrl.GetConfigOrDie()
	restCfg.QPS, restCfg.Burst = float32(*kubeQPS), *kubeBurst
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOptions(*metricsAddr, *secureMetrics, *metricsCertDir),
		HealthProbeBindAddress:        *probeAddr,
		PprofBindAddress:              *pprofAddr,
		LeaderElection:                *leaderElect,
		LeaderElectionID:              "emqx-operator.apps.emqx.io",
		LeaderElectionNamespace:       *leaseNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controllers.CacheOptions(namespaces),
		Client:                        controllers.ClientOptions(),
	})
	if err != nil {
		setupLog.Error(err, "creating the manager")
		return 1
	}
	// The OperatorCondition lives in the operator's own namespace, which need not be one it
	// watches; it is read only when the answer changes, so an uncached client is enough.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: scheme})
	if err != nil {
		setupLog.Error(err, "creating the OperatorCondition client")
		return 1
	}
	upgradeGate := olm.NewUpgradeGate(direct, setupLog)
	renderer, err := render.New()
	if err != nil {
		setupLog.Error(err, "loading the embedded chart")
		return 1
	}
	// overrideValues (allow-listed and checked by watches.Parse) reach the chart through the renderer.
	emqxOverrides, err := emqxWatch.Overrides()
	if err != nil {
		setupLog.Error(err, "invalid watches file")
		return 1
	}
	r := &emqx.EMQXReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Scheme:      scheme,
		Recorder:    mgr.GetEventRecorder("emqx-operator"),
		Renderer:    renderer.WithOverrides(emqxOverrides),
		EMQXClients: emqxapi.DefaultFactory,
		Rollouts:    &pipeline.RolloutLimiter{Max: *maxRollouts},
		JoinTimeout: *joinTimeout,
		// HTTP_PROXY/HTTPS_PROXY/NO_PROXY as OLM sets them on a proxied cluster: EMQX nodes get them too.
		ProxyEnv: proxy.ReadProxyVarsFromEnv(),
		Upgrade:  upgradeGate,
		// watches.yaml's reconcilePeriod (Parse has checked it): the resync of a healthy cluster.
		ReadyResync: mustPeriod(emqxWatch),
		Health:      healthpoll.New(*healthInterval),
		// Passes at once: one per ten clusters, at least four, at most watches.yaml's
		// maxConcurrentReconciles (or pipeline.DefaultWorkerCeiling).
		Workers: pipeline.NewWorkerGate("EMQX", emqxWatch.MaxConcurrentReconciles),
		// A stable cluster's pass compares only the objects that changed since it last looked.
		ApplyMemo: apply.NewUpToDateMemo(),
	}
	if err := controllers.IndexFields(context.Background(), mgr.GetFieldIndexer()); err != nil {
		setupLog.Error(err, "indexing the cache")
		return 1
	}
	if err := r.SetupWithManager(mgr, r.Workers.Ceiling()); err != nil {
		setupLog.Error(err, "setting up the EMQX controller")
		return 1
	}
	// The v1beta2 kinds (EMQX 4.4), each reconciled when watches.yaml lists it.
	for _, r4 := range emqx4.NewEmqx4Reconcilers(emqx4.Emqx4Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("emqx-operator"),
		Renderer: renderer, EMQXClients: emqxapi.DefaultFactory, ProxyEnv: proxy.ReadProxyVarsFromEnv(),
		SecretPropagation: *secretPropagation,
	}, scheme) {
		w, ok := watches.Find(ws, v1beta2.GroupVersion.WithKind(r4.Kind))
		if !ok {
			continue
		}
		r4.ReadyResync = mustPeriod(w)
		overrides, err := w.Overrides()
		if err != nil {
			setupLog.Error(err, "invalid watches file", "kind", r4.Kind)
			return 1
		}
		r4.Renderer = renderer.WithOverrides(overrides)
		r4.Workers = pipeline.NewWorkerGate(r4.Kind, w.MaxConcurrentReconciles)
		if err := r4.SetupWithManager(mgr, r4.Workers.Ceiling()); err != nil {
			setupLog.Error(err, "setting up the controller", "kind", r4.Kind)
			return 1
		}
	}
	backups := &backup.EMQXBackupReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme,
		Recorder: mgr.GetEventRecorder("emqx-operator"), Image: *backupImage}
	if err := backups.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "setting up the backup controller")
		return 1
	}
	schedules := &backup.EMQXBackupScheduleReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("emqx-operator"), Now: time.Now}
	if err := schedules.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "setting up the backup schedule controller")
		return 1
	}
	restores := &backup.EMQXRestoreReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme,
		Recorder: mgr.GetEventRecorder("emqx-operator"), Image: *backupImage}
	if err := restores.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "setting up the restore controller")
		return 1
	}
	kube, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		setupLog.Error(err, "creating the Kubernetes client for pod exec")
		return 1
	}
	pluginsR := &plugin.EMQXPluginReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("emqx-operator"), EMQXClients: emqxapi.DefaultFactory,
		Exec: podexec.API{Config: mgr.GetConfig(), Client: kube}, ReaderImage: *readerImage, Now: time.Now}
	if err := pluginsR.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "setting up the plugin controller")
		return 1
	}
	// The fleet's series come from the cache at scrape time, on the leader only; the EMQX API
	// counter from every call.
	if err := crmetrics.Registry.Register(&fleetmetrics.Collector{Reader: mgr.GetClient(), Log: ctrl.Log.WithName("metrics"),
		Elected: mgr.Elected()}); err != nil {
		setupLog.Error(err, "registering the fleet metrics")
		return 1
	}
	if err := crmetrics.Registry.Register(emqxapi.Requests); err != nil {
		setupLog.Error(err, "registering the EMQX API metrics")
		return 1
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "adding the health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "adding the readiness check")
		return 1
	}
	setupLog.Info("starting the operator", "namespaces", namespaces, "chart", emqxWatch.Chart, "chartVersion", renderer.ChartVersion())
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "running the manager")
		return 1
	}
	return 0
}

// watchNamespaces reads WATCH_NAMESPACE: empty for all namespaces, else a comma-separated list.
// checkClientLimits refuses what client-go would misread: a QPS of 0 is its own default of 5 per
// second, and a burst below 1 under a limit fails every request.
func checkClientLimits(qps float64, burst int) error {
	if qps == 0 || qps > 0 && burst < 1 {
		return fmt.Errorf("--kube-api-qps=%g --kube-api-burst=%d: the QPS must be positive (or -1 for no client-side limit) and the burst at least 1", qps, burst)
	}
	return nil
}

func watchNamespaces() []string {
	var out []string
	for _, ns := range strings.Split(os.Getenv("WATCH_NAMESPACE"), ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// mustPeriod is a watches.yaml entry's reconcilePeriod, which watches.Parse has already checked.
func mustPeriod(w watches.Watch) time.Duration {
	d, err := w.Period()
	if err != nil {
		panic(fmt.Sprintf("watches.yaml entry %s: reconcilePeriod %q passed Parse but does not parse: %v", w.GVK(), w.ReconcilePeriod, err))
	}
	return d
}
