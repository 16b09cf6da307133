package emqx

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
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

// dsReplication keeps durable-storage replicas on the staying core nodes (emqx6-behaviour.md §1):
// it reads DS when the health budget allows, decides (dsrepl.Decide), assigns replica sets and
// forgets lost sites, and tells the Plan step which departing cores must keep their pods. It runs
// before Plan: a scale-in may stop a core only once its replicas have moved.
func (r *EMQXReconciler) dsReplication(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	reading, err := r.readDS(ctx, p)
	if err != nil {
		// Not judged this pass: status keeps the last DS condition, the lifecycle keeps every
		// departing core that the last reading held (a failed read must not release a pod).
		log.FromContext(ctx).Info("durable storage not read this pass", "error", err.Error())
		p.dsKeep = lastHolds(p)
		return pipeline.Next(), nil
	}
	p.reading.DS = reading
	plan := dsrepl.Decide(r.dsState(p, reading))
	p.dsKeep = plan.Hold
	rep := status.DSReport{Observed: true, InUse: plan.InUse, DBs: plan.Summary, Ready: plan.Ready, Reason: plan.Reason, Message: plan.Message}
	rep.Moving = !plan.Ready && plan.Reason != dsrepl.ReasonLostReplicas
	p.reports.DS = rep
	if !plan.InUse {
		return pipeline.Next(), nil
	}
	if err := r.carryOutDS(ctx, p, plan); err != nil {
		return pipeline.Outcome{}, err
	}
	return pipeline.Next(), nil
}

// readDS asks the node that answered the node list about durable storage, on the passes the health
// budget gives it; on the others the last reading stands. Releases without DS are not asked.
func (r *EMQXReconciler) readDS(ctx context.Context, p *pass) (*dsrepl.Reading, error) {
	o := p.observed
	if o.NodesErr != nil || !hasDSAPI(o.Nodes) {
		return nil, nil
	}
	if p.health.Read != healthpoll.Everything && p.health.Read != healthpoll.DSReplication {
		return p.reading.DS, nil
	}
	c := r.EMQXClients(o.Answered.BaseURL, emqxapi.Credentials{Key: p.operatorKey.Key, Secret: p.operatorKey.Secret})
	dbs, err := c.DSStorages(ctx)
	if emqxapi.IsNotFound(err) {
		return &dsrepl.Reading{}, nil // DS disabled (§1.1)
	}
	if err != nil {
		return nil, fmt.Errorf("reading durable-storage DBs: %w", err)
	}
	if len(dbs) == 0 {
		return &dsrepl.Reading{}, nil // durable sessions off: the sites do not matter
	}
	out := &dsrepl.Reading{Sites: map[string]emqxapi.DSSite{}}
	for _, name := range dbs {
		db, err := c.DSStorage(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("reading durable-storage DB %s: %w", name, err)
		}
		out.DBs = append(out.DBs, db)
	}
	sites, err := c.DSSites(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading durable-storage sites: %w", err)
	}
	for _, id := range sites {
		site, err := c.DSSite(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("reading durable-storage site %s: %w", id, err)
		}
		out.Sites[id] = site
	}
	return out, nil
}

// hasDSAPI: every node runs a release with the DS API (Enterprise 5.9+, any 6.x).
func hasDSAPI(nodes []emqxapi.Node) bool {
	if len(nodes) == 0 {
		return false
	}
	for _, n := range nodes {
		v, ok := upgradepath.Parse(n.Version)
		if !ok || !(v.Major >= 6 || v.AtLeast(5, 9, 0) && strings.EqualFold(n.Edition, "Enterprise")) {
			return false
		}
	}
	return true
}

// canForget: every node is 6.0+ (PUT /ds/sites/{site}/forget; §1.3).
func canForget(nodes []emqxapi.Node) bool {
	for _, n := range nodes {
		if v, ok := upgradepath.Parse(n.Version); !ok || v.Major < 6 {
			return false
		}
	}
	return len(nodes) > 0
}

// dsState is the decision's input: the core pods with their node names and whether EMQX runs them.
func (r *EMQXReconciler) dsState(p *pass, reading *dsrepl.Reading) dsrepl.State {
	e, o := p.e, p.observed
	running := map[string]bool{}
	for _, n := range o.Nodes {
		running[n.Node] = n.NodeStatus == "running"
	}
	s := dsrepl.State{Reading: reading, WantCores: int(e.CoreReplicas()), ReplicationFactor: dsrepl.ReplicationFactor(e),
		AcceptLowerRedundancy: dsrepl.AcceptsLowerRedundancy(e), CanForget: canForget(o.Nodes)}
	for _, pod := range o.PodsOfRole(v2beta1.RoleCore) {
		node := e.NodeName(pod.Name)
		s.Cores = append(s.Cores, dsrepl.Core{Node: node, Ordinal: lifecycle.Ordinal(pod.Name), Running: running[node]})
	}
	return s
}

// lastHolds: without a fresh reading, every departing core stays (the plan from the last reading
// cannot be trusted to release one).
func lastHolds(p *pass) map[string]string {
	if p.reading.DS == nil || !p.reading.DS.InUse() {
		return nil
	}
	keep := map[string]string{}
	for _, pod := range p.observed.PodsOfRole(v2beta1.RoleCore) {
		if lifecycle.Ordinal(pod.Name) >= int(p.e.CoreReplicas()) {
			keep[p.e.NodeName(pod.Name)] = "durable storage could not be read; a departing core stays until its replicas are known to have moved"
		}
	}
	return keep
}

// carryOutDS makes the plan's writes, each told by an Event. A site EMQX does not let go yet (its
// node merely down, or back up) is left for a later pass: EMQX only forgets a site whose node
// left the cluster.
func (r *EMQXReconciler) carryOutDS(ctx context.Context, p *pass, plan dsrepl.Plan) error {
	e := p.e
	c := r.EMQXClients(p.observed.Answered.BaseURL, emqxapi.Credentials{Key: p.operatorKey.Key, Secret: p.operatorKey.Secret})
	for _, a := range plan.Assign {
		if err := c.SetDSReplicas(ctx, a.DB, a.Sites); err != nil {
			return fmt.Errorf("assigning the replicas of durable-storage DB %s to sites %s: %w", a.DB, strings.Join(a.Sites, ", "), err)
		}
		r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "DSReplicasAssigned", "DurableStorage",
			"DB %s: shards assigned to the sites of the %d staying core nodes (%s)", a.DB, len(a.Sites), strings.Join(a.Sites, ", "))
	}
	for _, site := range plan.Forget {
		err := c.ForgetDSSite(ctx, site)
		switch {
		case emqxapi.IsBadRequest(err, "temporarily down"), emqxapi.IsBadRequest(err, "up and running"), emqxapi.IsNotFound(err):
			continue // not lost yet (or gone already): a later pass looks again
		case err != nil:
			return fmt.Errorf("forgetting durable-storage site %s: %w", site, err)
		}
		r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, "DSSiteForgotten", "DurableStorage",
			"site %s of node %s forgotten: the node left the cluster and the site held no replica", site, p.reading.DS.Sites[site].Node)
	}
	return nil
}
