package emqx

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/dsrepl"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
)

// reasonDSWriteFailed: EMQX refused or did not answer a replica assignment or a forget.
const reasonDSWriteFailed = "DSWriteFailed"

// dsReplication keeps durable-storage replicas on the staying core nodes (emqx6-behaviour.md §1):
// it reads DS on the passes the health budget gives it, decides (dsrepl.Decide), assigns replica
// sets and forgets lost sites, and tells the Plan step which departing nodes must keep their pods.
// It runs before Plan: a scale-in may stop a node only once its replicas have moved.
func (r *EMQXReconciler) dsReplication(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	st, err := r.dsState(ctx, p)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	reading, judged, err := r.readDS(ctx, p)
	switch {
	case err != nil:
		// Safety gate: without a reading nobody knows which departing node still holds the last
		// copies of a shard, so every one stays; status keeps the last DS condition.
		log.FromContext(ctx).Info("durable storage not read this pass", "error", err.Error())
		p.dsKeep = dsrepl.HoldEveryDeparting(st, "durable storage could not be read ("+err.Error()+"); departing nodes stay until their replicas are known to have moved")
		return pipeline.Next(), nil
	case !judged:
		if p.reading.DS == nil || p.reading.DS.InUse() {
			p.dsKeep = dsrepl.HoldEveryDeparting(st, "durable storage not judged this pass; departing nodes stay until their replicas are known to have moved")
		}
		return pipeline.Next(), nil
	}
	p.reading.DS = reading
	st.Reading = reading
	plan := dsrepl.Decide(st)
	p.dsKeep = plan.Hold
	p.reports.DS = status.DSReport{Observed: true, InUse: plan.InUse, DBs: plan.Summary, CoreSites: plan.CoreSites,
		Ready: plan.Ready, Reason: plan.Reason, Message: plan.Message}
	if !plan.InUse {
		return pipeline.Next(), nil
	}
	if plan.Reason == dsrepl.ReasonRFAboveCoreSites {
		// Accepted (EMQX keeps one replica per core), but each shard has fewer copies than the
		// configuration asks: told once, when it starts.
		if _, told := r.toldRFAbove.LoadOrStore(clusterKey(p.e), true); !told && !knewFewerSites(p.e, st.ReplicationFactor) {
			r.Recorder.Eventf(p.e, nil, corev1.EventTypeWarning, plan.Reason, "DurableStorage", "%s", plan.Message)
		}
	} else {
		r.toldRFAbove.Delete(clusterKey(p.e)) // told again if it comes back (unless the status knew)
	}
	if err := r.carryOutDS(ctx, p, plan); err != nil {
		// A refused write stops neither the lifecycle (the holds stand) nor the rest of the pass;
		// it is said in the condition and an Event, and the next pass reads DS again.
		p.reports.DS.Ready, p.reports.DS.Reason, p.reports.DS.Message = false, reasonDSWriteFailed, err.Error()
		r.Recorder.Eventf(p.e, nil, corev1.EventTypeWarning, reasonDSWriteFailed, "DurableStorage", "%s", err.Error())
	}
	return pipeline.Next(), nil
}

// readDS asks the node that answered the node list about durable storage. judged is false when
// the pass does not look at DS: off the health budget's DS turn (the last reading stands), or
// when the node list failed or shows no running node's release. A cluster whose running nodes
// all run releases without DS is judged: no DS.
func (r *EMQXReconciler) readDS(ctx context.Context, p *pass) (reading *dsrepl.Reading, judged bool, err error) {
	o := p.observed
	if o.NodesErr != nil {
		return nil, false, nil
	}
	switch dsAPIOf(o.Nodes) {
	case dsUnknown:
		return nil, false, nil
	case dsAbsent:
		return &dsrepl.Reading{}, true, nil
	}
	if partialView(o) {
		// The node that answered does not see every ready core: it runs alone (back on a new
		// volume, say) or a core has not joined yet. Its DS view is not the cluster's.
		return nil, false, nil
	}
	if p.health.Read != healthpoll.Everything && p.health.Read != healthpoll.DSReplication {
		return nil, false, nil
	}
	c := r.EMQXClients(o.Answered.BaseURL, emqxapi.Credentials{Key: p.operatorKey.Key, Secret: p.operatorKey.Secret})
	dbs, err := c.DSStorages(ctx)
	if emqxapi.IsNotFound(err) {
		return &dsrepl.Reading{}, true, nil // DS disabled (§1.1)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading durable-storage DBs: %w", err)
	}
	if len(dbs) == 0 {
		return &dsrepl.Reading{}, true, nil // no DB: durable sessions never on
	}
	out := &dsrepl.Reading{Sites: map[string]emqxapi.DSSite{}}
	for _, name := range dbs {
		db, err := c.DSStorage(ctx, name)
		if err != nil {
			return nil, false, fmt.Errorf("reading durable-storage DB %s: %w", name, err)
		}
		out.DBs = append(out.DBs, db)
	}
	sites, err := c.DSSites(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("reading durable-storage sites: %w", err)
	}
	for _, id := range sites {
		site, err := c.DSSite(ctx, id)
		if err != nil {
			return nil, false, fmt.Errorf("reading durable-storage site %s: %w", id, err)
		}
		out.Sites[id] = site
	}
	return out, true, nil
}

// partialView: fewer running cores in the answering node's list than ready core pods.
func partialView(o *status.Observed) bool {
	ready := 0
	for _, pod := range o.PodsOfRole(v2beta1.RoleCore) {
		if status.IsPodReady(&pod) {
			ready++
		}
	}
	running := 0
	for _, n := range o.Nodes {
		if n.Role == v2beta1.RoleCore && n.NodeStatus == "running" {
			running++
		}
	}
	return running < ready
}

// dsAPI is whether the cluster's releases have the DS API.
type dsAPI int

const (
	dsUnknown dsAPI = iota // no running node says its release
	dsAbsent               // every running node runs a release without DS
	dsPresent              // a running node runs Enterprise 5.9+ or 6.x
)

// dsAPIOf judges from the running nodes only: EMQX lists a stopped core without its release.
func dsAPIOf(nodes []emqxapi.Node) dsAPI {
	verdict := dsUnknown
	for _, n := range nodes {
		if n.NodeStatus != "running" {
			continue
		}
		v, ok := upgradepath.Parse(n.Version)
		if !ok {
			return dsUnknown
		}
		if v.Major >= 6 || v.AtLeast(5, 9, 0) && strings.EqualFold(n.Edition, "Enterprise") {
			return dsPresent
		}
		verdict = dsAbsent
	}
	return verdict
}

// canForget: every running node is 6.0+ (PUT /ds/sites/{site}/forget; §1.3).
func canForget(nodes []emqxapi.Node) bool {
	running := 0
	for _, n := range nodes {
		if n.NodeStatus != "running" {
			continue
		}
		running++
		if v, ok := upgradepath.Parse(n.Version); !ok || v.Major < 6 {
			return false
		}
	}
	return running > 0
}

// dsState is the decision's input but the reading: the cores by ordinal, from 0 to the core
// StatefulSet's size or the wanted count, whichever is larger, whether their pods exist or not (a
// pod missing for a moment is a core not running, not a core less), and the departing replicants.
func (r *EMQXReconciler) dsState(ctx context.Context, p *pass) (dsrepl.State, error) {
	e, o := p.e, p.observed
	running := map[string]bool{}
	for _, n := range o.Nodes {
		running[n.Node] = n.NodeStatus == "running"
	}
	s := dsrepl.State{WantCores: int(e.CoreReplicas()), ReplicationFactor: dsrepl.ReplicationFactor(e),
		AcceptLowerRedundancy: dsrepl.AcceptsLowerRedundancy(e), CanForget: canForget(o.Nodes)}
	set := e.CoreWorkloadName()
	if o.CoreSet != nil {
		set = o.CoreSet.Name
	}
	size := max(s.WantCores, roleSize(o.CoreSet, o.PodsOfRole(v2beta1.RoleCore)))
	for i := 0; i < size; i++ {
		node := e.NodeName(fmt.Sprintf("%s-%d", set, i))
		s.Cores = append(s.Cores, dsrepl.Core{Node: node, Ordinal: i, Running: running[node]})
	}
	for _, pod := range o.PodsOfRole(v2beta1.RoleReplicant) {
		if lifecycle.Ordinal(pod.Name) >= int(e.ReplicantReplicas()) {
			s.DepartingReplicants = append(s.DepartingReplicants, e.NodeName(pod.Name))
		}
	}
	if e.Status.DSReplication != nil {
		s.Known = e.Status.DSReplication.CoreSites
	}
	s.Volumes, s.PVs = map[string]string{}, map[string]string{}
	for _, pod := range o.PodsOfRole(v2beta1.RoleCore) {
		pvc, err := r.dataVolume(ctx, &pod)
		if err != nil {
			return s, err
		}
		if pvc != nil {
			s.Volumes[e.NodeName(pod.Name)], s.PVs[e.NodeName(pod.Name)] = string(pvc.UID), pvc.Spec.VolumeName
		}
	}
	return s, nil
}

// dataVolume is the PVC a core pod's data directory (/opt/emqx/data) is on (nil when it is not on
// one, or the PVC is not made yet).
func (r *EMQXReconciler) dataVolume(ctx context.Context, pod *corev1.Pod) (*corev1.PersistentVolumeClaim, error) {
	for _, c := range pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if strings.TrimSuffix(m.MountPath, "/") != "/opt/emqx/data" {
				continue
			}
			for _, v := range pod.Spec.Volumes {
				if v.Name != m.Name || v.PersistentVolumeClaim == nil {
					continue
				}
				pvc := &corev1.PersistentVolumeClaim{}
				err := r.Client.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: v.PersistentVolumeClaim.ClaimName}, pvc)
				if apierrors.IsNotFound(err) {
					return nil, nil
				}
				if err != nil {
					return nil, fmt.Errorf("reading the data volume of %s: %w", pod.Name, err)
				}
				return pvc, nil
			}
		}
	}
	return nil, nil
}

// roleSize is how many pods a role's StatefulSet keeps, or one past the highest ordinal among its
// pods while there is no StatefulSet.
func roleSize(set *appsv1.StatefulSet, pods []corev1.Pod) int {
	n := 0
	if set != nil && set.Spec.Replicas != nil {
		n = int(*set.Spec.Replicas)
	}
	for _, p := range pods {
		n = max(n, lifecycle.Ordinal(p.Name)+1)
	}
	return n
}

// carryOutDS makes the plan's writes, told by one Event per kind of write (events/v1 merges Events
// of one reason on one object into a series that keeps the first note, so one note names them
// all). A site EMQX does not let go yet (its node merely down, or back up) is left for a later
// pass: EMQX only forgets a site whose node left the cluster.
func (r *EMQXReconciler) carryOutDS(ctx context.Context, p *pass, plan dsrepl.Plan) error {
	e := p.e
	c := r.EMQXClients(p.observed.Answered.BaseURL, emqxapi.Credentials{Key: p.operatorKey.Key, Secret: p.operatorKey.Secret})
	var assigned, forgotten, retired []string
	defer func() {
		if len(retired) > 0 {
			r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "DSSiteRetired", "DurableStorage",
				"back on new volumes, these cores left the cluster to rejoin with new sites, their old sites forgotten: %s", strings.Join(retired, "; "))
		}
		if len(assigned) > 0 {
			r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "DSReplicasAssigned", "DurableStorage",
				"shards of %s assigned to %d core sites (%s)", strings.Join(assigned, ", "), len(plan.Assign[0].Sites), strings.Join(plan.Assign[0].Sites, ", "))
		}
		if len(forgotten) > 0 {
			r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "DSSiteForgotten", "DurableStorage",
				"forgotten, their nodes having left the cluster and the sites holding no replica: %s", strings.Join(forgotten, "; "))
		}
	}()
	for _, a := range plan.Assign {
		if err := c.SetDSReplicas(ctx, a.DB, a.Sites); err != nil {
			return fmt.Errorf("assigning the replicas of durable-storage DB %s to sites %s: %w", a.DB, strings.Join(a.Sites, ", "), err)
		}
		assigned = append(assigned, a.DB)
	}
	for _, ev := range plan.Evict {
		// EMQX forgets a site only while its node is out of the cluster: the node leaves first
		// (it runs alone, or is stopped), then the site goes; the lifecycle's invite brings the
		// node back once it runs alone (or its boot's autocluster, if it was stopped),
		// and it claims a new site.
		// Both calls go to another core: a node refuses to force itself out ("Can't leave self").
		if err := r.onAnotherCore(ctx, p, ev.Node, func(ctx context.Context, c *emqxapi.Client) error {
			if err := c.ForceLeave(ctx, ev.Node); err != nil && !emqxapi.IsBadRequest(err, "node_not_in_cluster") {
				return fmt.Errorf("making %s leave the cluster to retire its site %s: %w", ev.Node, ev.Site, err)
			}
			if err := c.ForgetDSSite(ctx, ev.Site); err != nil && !isSiteNotFound(err) {
				return fmt.Errorf("forgetting the site %s of %s: %w", ev.Site, ev.Node, err)
			}
			return nil
		}); err != nil {
			return err
		}
		retired = append(retired, fmt.Sprintf("site %s of %s", ev.Site, ev.Node))
	}
	for _, site := range plan.Forget {
		err := c.ForgetDSSite(ctx, site)
		switch {
		case emqxapi.IsBadRequest(err, "temporarily down"), emqxapi.IsBadRequest(err, "up and running"), emqxapi.IsNotFound(err):
			continue // not lost yet (or gone already): a later pass looks again
		case err != nil:
			return fmt.Errorf("forgetting durable-storage site %s: %w", site, err)
		}
		forgotten = append(forgotten, fmt.Sprintf("site %s of node %s", site, p.reading.DS.Sites[site].Node))
	}
	return nil
}

// knewFewerSites: the status already recorded fewer core sites than the replication factor, so
// the shortfall was told when it began (a restart or rollout on the way does not tell it again).
func knewFewerSites(e *v2beta1.EMQX, rf int) bool {
	return e.Status.DSReplication != nil && len(e.Status.DSReplication.CoreSites) > 0 && len(e.Status.DSReplication.CoreSites) < rf
}

// onAnotherCore runs fn against the first ready core that answers, node's own pod last.
func (r *EMQXReconciler) onAnotherCore(ctx context.Context, p *pass, node string, fn func(context.Context, *emqxapi.Client) error) error {
	creds := emqxapi.Credentials{Key: p.operatorKey.Key, Secret: p.operatorKey.Secret}
	_, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, apiEndpoints(p.observed, node),
		func(ctx context.Context, c *emqxapi.Client) (struct{}, error) { return struct{}{}, fn(ctx, c) })
	return err
}

// isSiteNotFound: the site is gone already (404 "Site not found"), not a missing route.
func isSiteNotFound(err error) bool {
	var e *emqxapi.Error
	return errors.As(err, &e) && e.Status == 404 && strings.Contains(e.Message, "Site not found")
}
