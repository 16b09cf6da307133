// Package plugin reconciles EMQXPlugins: one EMQX plugin installed, configured, ordered and started
// on every running node of one EMQX cluster, through EMQX's plugin API.
package plugin

import (
	"context"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/plugins"
	"github.com/broker-ops/emqx-operator/internal/podexec"
)

// EMQXPluginReconciler keeps one plugin on every running node of its cluster.
type EMQXPluginReconciler struct {
	Client client.Client
	// APIReader reads the package's ConfigMap or Secret, uncached and only when a package is
	// installed: the operator caches only its own objects.
	APIReader   client.Reader
	Recorder    events.EventRecorder
	EMQXClients emqxapi.Factory
	// Exec runs `emqx ctl plugins allow` in an EMQX pod (the install permission of EMQX 5.9+).
	Exec podexec.Executor
	// HTTP downloads packages given by URL.
	HTTP *http.Client
	// ReaderImage runs the pods that read packages from claims (default DefaultReaderImage).
	ReaderImage string
	Now         func() time.Time

	mem memory
}

// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxplugins,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxplugins/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps.emqx.io,resources=emqxplugins/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods/exec,verbs=create;get
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get

// Reconcile runs the plugin's pipeline once and writes its status once.
func (r *EMQXPluginReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pl := &v2beta1.EMQXPlugin{}
	if err := r.Client.Get(ctx, req.NamespacedName, pl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := &pass{pl: pl, next: pl.Status.DeepCopy()}
	out, stepName, err := pipeline.Run(ctx, "EMQXPlugin", r.steps(), p)
	if p.gone {
		r.mem.forget(pl.UID)
		return out.Result(), err
	}
	updated := pl.DeepCopy()
	updated.Status = *assembleStatus(pl, p, r.mem.read(pl.UID), out, err, r.now())
	wout, werr := pipeline.PatchStatus(ctx, r.Client, pl, updated)
	out, err = pipeline.AfterStatusWrite(out, err, wout, werr)
	log.FromContext(ctx).V(1).Info("reconciled", "step", stepName, "outcome", out.Kind.String(), "reason", out.Reason)
	return out.Result(), err
}

func (r *EMQXPluginReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager watches plugins, their clusters (a node that joins, restarts or is replaced
// changes the cluster's status, and the plugin is looked at again) and each other (two resources
// for one plugin: the younger waits for the older to go). No field index: registering one needs
// the CRD served when the manager starts, and a namespace's plugins are few.
func (r *EMQXPluginReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("emqxplugin").
		For(&v2beta1.EMQXPlugin{}).
		// The reader pod of a package on a claim: its start (or trouble) brings the plugin back.
		Owns(&corev1.Pod{}).
		Watches(&v2beta1.EMQX{}, handler.EnqueueRequestsFromMapFunc(r.pluginsOfCluster)).
		// A restore may bring another plugin configuration: the plugins of its cluster look again.
		Watches(&v2beta1.EMQXRestore{}, handler.EnqueueRequestsFromMapFunc(r.pluginsOfRestoredCluster)).
		Watches(&v2beta1.EMQXPlugin{}, handler.EnqueueRequestsFromMapFunc(r.siblings),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
				// Only a plugin that starts going frees the plugin name for a sibling.
				return !e.ObjectNew.GetDeletionTimestamp().IsZero() && e.ObjectOld.GetDeletionTimestamp().IsZero()
			}})).
		Complete(r)
}

// PluginsOf lists the plugins of one cluster from the cache (the EMQX reconciler reads them too).
func PluginsOf(ctx context.Context, c client.Reader, namespace, cluster string) ([]v2beta1.EMQXPlugin, error) {
	var list v2beta1.EMQXPluginList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	var out []v2beta1.EMQXPlugin
	for _, pl := range list.Items {
		if pl.Spec.ClusterName == cluster {
			out = append(out, pl)
		}
	}
	return out, nil
}

func (r *EMQXPluginReconciler) pluginsOfCluster(ctx context.Context, o client.Object) []reconcile.Request {
	items, err := PluginsOf(ctx, r.Client, o.GetNamespace(), o.GetName())
	if err != nil {
		log.FromContext(ctx).Error(err, "listing the plugins of a cluster", "cluster", o.GetName())
		return nil
	}
	return requests(items)
}

func (r *EMQXPluginReconciler) pluginsOfRestoredCluster(ctx context.Context, o client.Object) []reconcile.Request {
	rs, ok := o.(*v2beta1.EMQXRestore)
	if !ok || rs.Status.Phase != v2beta1.BackupSucceeded {
		return nil
	}
	items, err := PluginsOf(ctx, r.Client, rs.Namespace, rs.Spec.ClusterName)
	if err != nil {
		log.FromContext(ctx).Error(err, "listing the plugins of a cluster", "cluster", rs.Spec.ClusterName)
		return nil
	}
	return requests(items)
}

func (r *EMQXPluginReconciler) siblings(ctx context.Context, o client.Object) []reconcile.Request {
	pl, ok := o.(*v2beta1.EMQXPlugin)
	if !ok {
		return nil
	}
	items, err := PluginsOf(ctx, r.Client, pl.Namespace, pl.Spec.ClusterName)
	if err != nil {
		log.FromContext(ctx).Error(err, "listing the plugins of a cluster", "cluster", pl.Spec.ClusterName)
		return nil
	}
	var out []v2beta1.EMQXPlugin
	for _, it := range items {
		if it.Name != pl.Name && plugins.Name(it.Spec.NameVsn) == plugins.Name(pl.Spec.NameVsn) {
			out = append(out, it)
		}
	}
	return requests(out)
}

func requests(items []v2beta1.EMQXPlugin) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for _, it := range items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&it)})
	}
	return out
}

// pass is one reconcile of one plugin.
type pass struct {
	pl   *v2beta1.EMQXPlugin
	next *v2beta1.EMQXPluginStatus
	// gone: the resource was released (finalizer removed); there is no status to write.
	gone bool

	cluster   *v2beta1.EMQX
	creds     emqxapi.Credentials
	endpoints []emqxapi.Endpoint // ready core pods, asked in turn
	byNode    map[string]nodePod // running nodes → their ready pod
	answered  emqxapi.Endpoint   // the node that answered the plugin list
	decision  *plugins.Decision  // what Decide said, when the cluster was looked at
	problem   *condition         // why the plugin is not Ready, when it is not
	config    *condition         // ConfigApplied, when known
}

// nodePod is a running EMQX node and its pod.
type nodePod struct {
	pod  *corev1.Pod
	node string
	core bool
}

// condition is a reason and message for a condition.
type condition struct {
	status          bool
	reason, message string
}
