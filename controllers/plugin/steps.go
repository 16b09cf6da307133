package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/plugins"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// Intervals of this reconciler.
const (
	// converged is the resync of a plugin that is as wanted: EMQX does not report plugin changes
	// made behind the operator's back (the dashboard), so they are looked for this often. Nodes
	// that join or restart are seen at once through the cluster's status.
	converged = 5 * time.Minute
	// afterCall: an action was taken; the cluster is looked at again right away.
	afterCall = pipeline.Settle
	// packageRetry: a package the operator or EMQX refused is read again this often, in case the
	// user fixed the package itself (the spec unchanged).
	packageRetry = time.Minute
)

// Reasons of the plugin's conditions.
const (
	ReasonClusterNotFound       = "ClusterNotFound"
	ReasonClusterDeleting       = "ClusterDeleting"
	ReasonConflict              = "Conflict"
	ReasonEMQXUnreachable       = "EMQXUnreachable"
	ReasonInstallNotAllowed     = "InstallNotAllowed"
	ReasonInstallRefused        = "InstallRefused"
	ReasonConfigRejected        = "ConfigRejected"
	ReasonEMQXRefused           = "EMQXRefused"
	ReasonWaitingForCredentials = "WaitingForCredentials"
	ReasonReadingPackage        = "ReadingPackage"
)

func (r *EMQXPluginReconciler) steps() []pipeline.Step[*pass] {
	return []pipeline.Step[*pass]{
		{Name: "Finalize", Run: r.finalize},
		{Name: "Cluster", Run: r.clusterStep},
		{Name: "Conflict", Run: r.conflict},
		{Name: "Observe", Run: r.observe},
		{Name: "Act", Run: r.act},
	}
}

// finalize adds the finalizer to a live plugin, and uninstalls a deleted one from its cluster
// before it lets the resource go. A cluster that is gone or going has nothing left to uninstall
// from: the finalizer is released at once, so deleting a cluster first never wedges its plugins.
func (r *EMQXPluginReconciler) finalize(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	pl := p.pl
	if pl.DeletionTimestamp.IsZero() {
		if controllerutil.ContainsFinalizer(pl, v2beta1.PluginFinalizer) {
			return pipeline.Next(), nil
		}
		patch := client.MergeFrom(pl.DeepCopy())
		controllerutil.AddFinalizer(pl, v2beta1.PluginFinalizer)
		if err := r.Client.Patch(ctx, pl, patch); err != nil {
			return pipeline.Outcome{}, err
		}
		return pipeline.Next(), nil
	}
	if !controllerutil.ContainsFinalizer(pl, v2beta1.PluginFinalizer) {
		p.gone = true
		return pipeline.Converged(0), nil
	}
	out, err := r.uninstall(ctx, p)
	if err != nil || out.Stops() {
		return out, err
	}
	patch := client.MergeFrom(pl.DeepCopy())
	controllerutil.RemoveFinalizer(pl, v2beta1.PluginFinalizer)
	if err := r.Client.Patch(ctx, pl, patch); err != nil && !apierrors.IsNotFound(err) {
		return pipeline.Outcome{}, err
	}
	p.gone = true
	return pipeline.Converged(0), nil
}

// uninstall removes every version of the plugin from the cluster. It continues (Next) when there
// is nothing (left) to remove.
func (r *EMQXPluginReconciler) uninstall(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	if out, err := r.clusterStep(ctx, p); err != nil || out.Stops() {
		if p.cluster == nil || !p.cluster.DeletionTimestamp.IsZero() {
			return pipeline.Next(), nil // the cluster is gone or going: so are its plugins
		}
		return out, err
	}
	// A resource that lost a conflict never managed the plugin: the owner's plugin stays.
	if owner, err := r.owner(ctx, p.pl); err != nil {
		return pipeline.Outcome{}, err
	} else if owner != nil && owner.Name != p.pl.Name {
		return pipeline.Next(), nil
	}
	ans, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, p.creds, p.endpoints,
		func(ctx context.Context, c *emqxapi.Client) ([]emqxapi.Plugin, error) { return c.Plugins(ctx) })
	if err != nil {
		p.problem = &condition{reason: ReasonEMQXUnreachable, message: "uninstalling: " + err.Error()}
		return pipeline.WaitFor(pipeline.Converging, ReasonEMQXUnreachable), nil
	}
	name := plugins.Name(p.pl.Spec.NameVsn)
	c := r.EMQXClients(ans.Endpoint.BaseURL, p.creds)
	for _, pg := range ans.Value {
		if pg.Name != name {
			continue
		}
		if err := c.DeletePlugin(ctx, pg.NameVsn()); err != nil && !emqxapi.IsNotFound(err) {
			p.problem = &condition{reason: ReasonEMQXUnreachable, message: fmt.Sprintf("uninstalling %s: %v", pg.NameVsn(), err)}
			return pipeline.WaitFor(pipeline.Converging, ReasonEMQXUnreachable), nil
		}
		r.Recorder.Eventf(p.pl, nil, corev1.EventTypeNormal, "Uninstalled", "Uninstall",
			"plugin %s stopped and uninstalled from every node of cluster %s", pg.NameVsn(), p.cluster.Name)
	}
	return pipeline.Next(), nil
}

// clusterStep finds the cluster, the operator's API key for it and its running nodes.
func (r *EMQXPluginReconciler) clusterStep(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	pl := p.pl
	e := &v2beta1.EMQX{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: pl.Namespace, Name: pl.Spec.ClusterName}, e); err != nil {
		if apierrors.IsNotFound(err) {
			p.problem = &condition{reason: ReasonClusterNotFound, message: fmt.Sprintf("EMQX cluster %s not found in namespace %s", pl.Spec.ClusterName, pl.Namespace)}
			return pipeline.WaitFor(0, ReasonClusterNotFound), nil // the EMQX watch brings it
		}
		return pipeline.Outcome{}, err
	}
	p.cluster = e
	if !e.DeletionTimestamp.IsZero() {
		p.problem = &condition{reason: ReasonClusterDeleting, message: "the cluster is being deleted"}
		return pipeline.WaitFor(0, ReasonClusterDeleting), nil
	}
	key := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.OperatorKeySecretName()}, key); err != nil {
		if apierrors.IsNotFound(err) {
			p.problem = &condition{reason: ReasonWaitingForCredentials, message: "the cluster's operator API key is not made yet"}
			return pipeline.WaitFor(pipeline.MissingDependency, ReasonWaitingForCredentials), nil
		}
		return pipeline.Outcome{}, err
	}
	p.creds = emqxapi.Credentials{Key: string(key.Data[values.OperatorKeyKey]), Secret: string(key.Data[values.OperatorSecretKey])}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(e.Namespace), client.MatchingLabels(e.SelectorLabels())); err != nil {
		return pipeline.Outcome{}, err
	}
	p.byNode, p.endpoints = runningNodes(e, pods.Items)
	return pipeline.Next(), nil
}

// runningNodes are the nodes the cluster's status lists as running whose pod is the one listed
// and ready: each must have the plugin. The endpoints are the ready cores, asked in turn.
func runningNodes(e *v2beta1.EMQX, pods []corev1.Pod) (map[string]nodePod, []emqxapi.Endpoint) {
	byUID := map[string]*corev1.Pod{}
	for i := range pods {
		byUID[string(pods[i].UID)] = &pods[i]
	}
	out := map[string]nodePod{}
	var eps []emqxapi.Endpoint
	add := func(nodes []v2beta1.EMQXNode, core bool) {
		for _, n := range nodes {
			pod := byUID[string(n.PodUID)]
			if n.NodeStatus != "running" || pod == nil || pod.Status.PodIP == "" || !status.IsPodReady(pod) || !pod.DeletionTimestamp.IsZero() {
				continue
			}
			out[n.Node] = nodePod{pod: pod, node: n.Node, core: core}
			if core {
				eps = append(eps, emqxapi.Endpoint{Pod: pod.Name, BaseURL: emqxapi.PodBaseURL(pod.Status.PodIP)})
			}
		}
	}
	add(e.Status.CoreNodes, true)
	add(e.Status.ReplicantNodes, false)
	sort.Slice(eps, func(i, j int) bool { return eps[i].Pod < eps[j].Pod })
	return out, eps
}

// conflict: one plugin name has one resource per cluster. The oldest wins; the others say so and
// wait for it to go (the sibling watch brings them back).
func (r *EMQXPluginReconciler) conflict(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	owner, err := r.owner(ctx, p.pl)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	if owner != nil && owner.Name != p.pl.Name {
		p.problem = &condition{reason: ReasonConflict, message: fmt.Sprintf("plugin %s of cluster %s is managed by EMQXPlugin %s; delete one of the two",
			plugins.Name(p.pl.Spec.NameVsn), p.pl.Spec.ClusterName, owner.Name)}
		return pipeline.Rejected(ReasonConflict), nil
	}
	return pipeline.Next(), nil
}

// owner is the oldest live resource for this plugin name on this cluster.
func (r *EMQXPluginReconciler) owner(ctx context.Context, pl *v2beta1.EMQXPlugin) (*v2beta1.EMQXPlugin, error) {
	items, err := PluginsOf(ctx, r.Client, pl.Namespace, pl.Spec.ClusterName)
	if err != nil {
		return nil, err
	}
	var best *v2beta1.EMQXPlugin
	for i := range items {
		it := &items[i]
		// A sibling being deleted still owns the plugin while its finalizer uninstalls it: a newer
		// resource installing meanwhile would have its plugin removed by that uninstall.
		if plugins.Name(it.Spec.NameVsn) != plugins.Name(pl.Spec.NameVsn) ||
			!it.DeletionTimestamp.IsZero() && it.Name != pl.Name && !controllerutil.ContainsFinalizer(it, v2beta1.PluginFinalizer) {
			continue
		}
		if best == nil || it.CreationTimestamp.Before(&best.CreationTimestamp) ||
			it.CreationTimestamp.Equal(&best.CreationTimestamp) && it.Name < best.Name {
			best = it
		}
	}
	return best, nil
}

// observe reads the cluster's plugins (and the wanted version's configuration when one is
// wanted) and decides.
func (r *EMQXPluginReconciler) observe(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	ans, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, p.creds, p.endpoints,
		func(ctx context.Context, c *emqxapi.Client) ([]emqxapi.Plugin, error) { return c.Plugins(ctx) })
	if err != nil {
		p.problem = &condition{reason: ReasonEMQXUnreachable, message: "reading the cluster's plugins: " + err.Error()}
		if errors.Is(err, emqxapi.ErrNoEndpoint) {
			return pipeline.WaitFor(0, ReasonEMQXUnreachable), nil // the cluster's status brings a node
		}
		return pipeline.WaitFor(pipeline.Converging, ReasonEMQXUnreachable), nil
	}
	p.answered = ans.Endpoint
	spec := p.pl.Spec
	want := plugins.Want{NameVsn: spec.NameVsn, Enabled: spec.Enabled, Position: spec.Position}
	obs := plugins.Observed{Plugins: ans.Value}
	for node := range p.byNode {
		obs.Nodes = append(obs.Nodes, node)
	}
	if spec.Config != nil {
		want.Config = json.RawMessage(spec.Config.Raw)
		want.ConfigRejected = configRejected(p.pl) || r.mem.read(p.pl.UID).rejected == configKey(p.pl)
		if installedSomewhere(ans.Value, spec.NameVsn) {
			cfg, found, err := r.EMQXClients(ans.Endpoint.BaseURL, p.creds).PluginConfig(ctx, spec.NameVsn)
			if err != nil {
				p.problem = &condition{reason: ReasonEMQXUnreachable, message: "reading the plugin's configuration: " + err.Error()}
				return pipeline.WaitFor(pipeline.Converging, ReasonEMQXUnreachable), nil
			}
			obs.Config, obs.ConfigFound = cfg, found
		}
	}
	d := plugins.Decide(want, obs)
	p.decision = &d
	return pipeline.Next(), nil
}

// configRejected: EMQX refused this generation's configuration already (it is not sent again
// until the spec changes).
func configRejected(pl *v2beta1.EMQXPlugin) bool {
	c := meta.FindStatusCondition(pl.Status.Conditions, v2beta1.PluginConfigApplied)
	return c != nil && c.Reason == ReasonConfigRejected && c.ObservedGeneration == pl.Generation
}

func installedSomewhere(list []emqxapi.Plugin, nameVsn string) bool {
	for _, pg := range list {
		if pg.NameVsn() == nameVsn && len(pg.RunningStatus) > 0 {
			return true
		}
	}
	return false
}
