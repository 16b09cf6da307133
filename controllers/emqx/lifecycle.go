package emqx

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// lifecycleState assembles the planner's input from one reconcile's observations.
func (r *EMQXReconciler) lifecycleState(e *v2beta1.EMQX, o *status.Observed, evacs []emqxapi.Evacuation) lifecycle.State {
	s := lifecycle.State{
		Cluster:              e,
		Core:                 lifecycle.Role{Name: v2beta1.RoleCore, Set: o.CoreSet, Want: e.CoreReplicas(), Pods: o.PodsOfRole(v2beta1.RoleCore)},
		Replicant:            lifecycle.Role{Name: v2beta1.RoleReplicant, Set: o.ReplicantSet, Want: e.ReplicantReplicas(), Pods: o.PodsOfRole(v2beta1.RoleReplicant)},
		Nodes:                o.Nodes,
		NodesKnown:           o.NodesErr == nil,
		Evacuations:          map[string]emqxapi.Evacuation{},
		UnlistedSince:        r.unlistedSince(e, o),
		ForeignUnlistedSince: r.foreignUnlistedSince(o),
		Now:                  time.Now(),
		JoinTimeout:          r.JoinTimeout,
		Foreign:              o.Foreign,
		ForeignSets:          o.ForeignSets,
	}
	for _, ev := range evacs {
		s.Evacuations[ev.Node] = ev
	}
	return s
}

// unlistedSince notes, by pod UID, when each Ready pod's node was first seen missing from the
// answering node's list, and returns those times by node. Measured from that first sighting (not
// from the pod's Ready, which a long-running node had long before and a flapping one restarts),
// it bounds the scale-in gate's wait (lifecycle's unlistedButReady).
func (r *EMQXReconciler) unlistedSince(e *v2beta1.EMQX, o *status.Observed) map[string]time.Time {
	out := map[string]time.Time{}
	if o.NodesErr != nil {
		return out
	}
	listed := map[string]bool{}
	for _, n := range o.Nodes {
		listed[n.Node] = true
	}
	for i := range o.Pods {
		pod := &o.Pods[i]
		node := lifecycle.NodeName(e, pod.Name)
		if ready, _ := lifecycle.PodReady(pod); !ready || listed[node] {
			r.unlisted.forget(string(pod.UID))
			continue
		}
		out[node] = r.unlisted.started(string(pod.UID))
	}
	return out
}

// foreignUnlistedSince is unlistedSince for the vendor's pods being retired, by pod name: their
// nodes are found in the list by address (lifecycle.ForeignNodeName), not by name.
func (r *EMQXReconciler) foreignUnlistedSince(o *status.Observed) map[string]time.Time {
	out := map[string]time.Time{}
	if o.NodesErr != nil {
		return out
	}
	listed := &lifecycle.State{Nodes: o.Nodes}
	for i := range o.Foreign {
		pod := &o.Foreign[i]
		if ready, _ := lifecycle.PodReady(pod); !ready || lifecycle.ForeignNodeName(listed, pod) != "" {
			r.unlisted.forget(string(pod.UID))
			continue
		}
		out[pod.Name] = r.unlisted.started(string(pod.UID))
	}
	return out
}

// readOutsiders asks each named pod's node, through its own API, how it sees itself: the
// scale-in must know whether a node outside the cluster serves clients before it stops it
// (lifecycle's drainUnlisted). A node that does not answer is left out; the plan bounds the wait
// for it.
func (r *EMQXReconciler) readOutsiders(ctx context.Context, e *v2beta1.EMQX, o *status.Observed, pods []string, creds emqxapi.Credentials) map[string]lifecycle.Outsider {
	out := map[string]lifecycle.Outsider{}
	for _, pod := range pods {
		node := e.NodeName(pod)
		ep, ok := podEndpoint(e, o, node)
		if !ok {
			continue
		}
		c := r.EMQXClients(ep.BaseURL, creds)
		nodes, err := c.Nodes(ctx)
		if err != nil {
			log.FromContext(ctx).V(1).Info("a node outside the cluster does not answer", "node", node, "error", err.Error())
			continue
		}
		self := -1
		for i := range nodes {
			if nodes[i].Node == node {
				self = i
			}
		}
		if self < 0 {
			continue
		}
		evacs, err := c.Evacuations(ctx)
		if err != nil && !emqxapi.IsNotFound(err) {
			log.FromContext(ctx).V(1).Info("a node outside the cluster does not report its evacuation", "node", node, "error", err.Error())
			continue
		}
		seen := lifecycle.Outsider{Connections: nodes[self].Connections, CannotEvacuate: nodes[self].Edition == "Opensource"}
		for i := range evacs {
			if evacs[i].Node == node {
				seen.Evacuation = &evacs[i]
			}
		}
		out[node] = seen
	}
	return out
}

// evacuationStarted starts the clock of an evacuation this operator started. A fresh start
// counts from now: a time left from an earlier evacuation of the same node (an earlier scale-in
// of the same ordinal) would have the bound passed at once and the node stopped with its
// clients. An evacuation that was already running (a previous leader started it) keeps the time
// first seen.
func (r *EMQXReconciler) evacuationStarted(node string, resumed bool) {
	if resumed {
		r.evacuations.started(node)
		return
	}
	r.evacuations.restart(node)
}

// syncEvacuationClock keeps the evacuations' clock true to what EMQX reports: an evacuation seen
// running (in the cluster's list or an outsider's own) is timed from when it was first seen —
// after an operator restart too, so that its wait is bounded —, and a node the answering node
// lists as not evacuating, read this pass, has its time dropped, so a later evacuation of the
// same node starts a fresh bound. A node neither listed nor read keeps its time: nothing says
// its evacuation ended.
func (r *EMQXReconciler) syncEvacuationClock(st *lifecycle.State, fresh bool) {
	for node := range st.Evacuations {
		r.evacuations.started(node)
	}
	for node, out := range st.Outsiders {
		if out.Evacuation != nil {
			r.evacuations.started(node)
		}
	}
	if fresh && st.NodesKnown {
		for _, n := range st.Nodes {
			if _, evacuating := st.Evacuations[n.Node]; !evacuating {
				r.evacuations.forget(n.Node)
			}
		}
	}
	st.EvacuationStarted = r.evacuations.snapshot()
}

// podEndpoint is the API of node's own pod.
func podEndpoint(e *v2beta1.EMQX, o *status.Observed, node string) (emqxapi.Endpoint, bool) {
	for i := range o.Pods {
		if o.Pods[i].Status.PodIP != "" && e.NodeName(o.Pods[i].Name) == node {
			return emqxapi.Endpoint{Pod: o.Pods[i].Name, BaseURL: emqxapi.PodBaseURL(o.Pods[i].Status.PodIP)}, true
		}
	}
	return emqxapi.Endpoint{}, false
}

// execute carries out one planned step and reports it with an Event. Answers that mean the step
// already happened (already started, not in the cluster any more, …) count as success: a step may
// be repeated after an operator restart.
func (r *EMQXReconciler) execute(ctx context.Context, e *v2beta1.EMQX, plan lifecycle.Plan, key credentials.APIKey, o *status.Observed) error {
	st := plan.Step
	creds := emqxapi.Credentials{Key: key.Key, Secret: key.Secret}
	// call asks EMQX; an answer saying the step already happened counts as done.
	call := func(done string, fn func(context.Context, *emqxapi.Client) error) error {
		_, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, apiEndpoints(o, st.Node),
			func(ctx context.Context, c *emqxapi.Client) (struct{}, error) {
				err := fn(ctx, c)
				if emqxapi.IsBadRequest(err, done) {
					err = nil
				}
				return struct{}{}, err
			})
		return err
	}
	var err error
	switch st.Kind {
	case lifecycle.None:
		return nil
	case lifecycle.ForceLeave:
		err = call("node_not_in_cluster", func(ctx context.Context, c *emqxapi.Client) error { return c.ForceLeave(ctx, st.Node) })
	case lifecycle.StopEvacuation:
		// Safety gate: the plan judged the node's pod from the cache, which may not show its
		// deletion yet. A preStop evacuation starts only after the API server recorded that
		// deletion, so a live read sees it for every evacuation EMQX reports; ending it would send
		// the clients of a node that is about to stop back to it, and they would be cut off.
		leaving, lerr := r.podLeaving(ctx, e, st.Node)
		if lerr != nil || leaving {
			return lerr
		}
		err = call("not_started", func(ctx context.Context, c *emqxapi.Client) error { return c.StopEvacuation(ctx, st.Node) })
		if err == nil {
			r.evacuations.forget(st.Node)
		}
	case lifecycle.Invite:
		if err := r.mayInvite(ctx, e, o, st.Node, creds); err != nil {
			return err
		}
		// Safety gate: the invited node joins the node that serves the request, so only the node
		// whose list the plan judged (o.Answered) may serve it. Failing over to another core
		// could reach the lone side of a split, and the invitee would join that one (chaos soak
		// SEED=1, c2: a replicant invited while the answering core failed joined a core that had
		// come back alone, and the split then held).
		if o.Answered.BaseURL == "" {
			return fmt.Errorf("not inviting %s yet: no node answered for the cluster this pass", st.Node)
		}
		_, err = emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, []emqxapi.Endpoint{o.Answered},
			func(ctx context.Context, c *emqxapi.Client) (struct{}, error) {
				err := c.Invite(ctx, st.Node)
				if emqxapi.IsBadRequest(err, "already_in_cluster") {
					err = nil
				}
				return struct{}{}, err
			})
	case lifecycle.StartEvacuation:
		// Safety gate (cacheCaughtUp): no evacuation on a cache that lags behind a deletion.
		if caught, cerr := r.cacheCaughtUp(ctx, e, o, st.Node); cerr != nil || !caught {
			return cerr
		}
		resumed := false
		err = call("already_started", func(ctx context.Context, c *emqxapi.Client) error {
			err := c.StartEvacuation(ctx, st.Node, st.Evacuation)
			resumed = emqxapi.IsBadRequest(err, "already_started")
			return err
		})
		if err == nil {
			r.evacuationStarted(st.Node, resumed)
		}
	case lifecycle.EvacuateOutsider:
		// The node runs outside the cluster the other nodes form: only it knows itself, so only
		// its own API serves the start (no fail-over). The cache gate is StartEvacuation's.
		if caught, cerr := r.cacheCaughtUp(ctx, e, o, st.Node); cerr != nil || !caught {
			return cerr
		}
		ep, ok := podEndpoint(e, o, st.Node)
		if !ok {
			return fmt.Errorf("evacuating %s: its pod has no address", st.Node)
		}
		err = r.EMQXClients(ep.BaseURL, creds).StartEvacuation(ctx, st.Node, st.Evacuation)
		resumed := emqxapi.IsBadRequest(err, "already_started")
		if resumed {
			err = nil
		}
		if err == nil {
			r.evacuationStarted(st.Node, resumed)
		}
	case lifecycle.RetireForeignPod:
		err = r.retireForeignPod(ctx, st.Pod, st.Set)
	case lifecycle.DeleteForeignSet:
		err = r.Client.Delete(ctx, st.Set, client.Preconditions{UID: &st.Set.UID})
		if apierrors.IsNotFound(err) {
			err = nil
		}
	case lifecycle.ReplacePod:
		// Safety gate: the cache may not show yet that this pod is already going (its watch lags
		// after an API server restart, or a previous leader deleted it just before it died).
		// Deleting it again changes nothing, but reporting it again would tell the user a second
		// node is being replaced; a live read tells which.
		gone, gerr := r.podAlreadyGoing(ctx, st.Pod)
		if gerr != nil {
			return gerr
		}
		if gone {
			r.evacuations.forget(lifecycle.NodeName(e, st.Pod.Name))
			return nil
		}
		err = r.Client.Delete(ctx, st.Pod, client.Preconditions{UID: &st.Pod.UID})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			err = nil
		}
		r.evacuations.forget(lifecycle.NodeName(e, st.Pod.Name))
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", st.Kind, target(st), err)
	}
	r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, string(st.Kind), "Lifecycle", "%s", plan.Message)
	return nil
}

// mayInvite is the invite's safety gate. An invited node drops its cluster's data and takes the
// inviter's. A node that is missing from the answering node's list may instead be in the larger
// part of a split (the answering core came back alone, e.g. on a new volume): inviting it would
// move the cluster into the empty one. Only a node that inviteRefusal finds safe is invited; the
// other side is the one invited, or rejoins by the DNS autocluster of its boot.
func (r *EMQXReconciler) mayInvite(ctx context.Context, e *v2beta1.EMQX, o *status.Observed, node string, creds emqxapi.Credentials) error {
	theirs, err := r.inviteeNodes(ctx, e, o, node, creds)
	if err != nil {
		return fmt.Errorf("not inviting %s yet: %w", node, err)
	}
	if refusal := inviteRefusal(node, theirs, o.Nodes); refusal != "" {
		return fmt.Errorf("not inviting %s: %s", node, refusal)
	}
	return nil
}

// inviteRefusal judges an invite from the invitee's own node list (theirs) and the answering
// node's (ours); "" means the invitee may drop its cluster. Its peers are the running nodes it
// lists that ours does not show running: the members of another cluster.
//   - A core peer holds that cluster's data: never invited (the other side may be the larger one).
//   - Replicants hold no data, but a lone core serving them may be the side that kept the data
//     while the answering core came back empty; it is invited only when the answering side runs
//     more cores than it (chaos soak SEED=1, c2: a core force-left and recreated on a new volume
//     booted alone, a replicant joined it, and the gate refused it for ever). "More cores" is
//     a judgement, not proof: two cores that both came back empty and found each other would
//     outnumber a lone core that kept the data; the answering side is at least the one the
//     operator reads the cluster from.
//
// A node of unknown role counts as a core.
func inviteRefusal(node string, theirs, ours []emqxapi.Node) string {
	running := map[string]bool{}
	oursCores := 0
	for _, n := range ours {
		running[n.Node] = n.NodeStatus == "running"
		if n.NodeStatus == "running" && n.Role != v2beta1.RoleReplicant {
			oursCores++
		}
	}
	var cores, replicants []string
	for _, n := range theirs {
		if n.Node == node || n.NodeStatus != "running" || running[n.Node] {
			continue
		}
		if n.Role == v2beta1.RoleReplicant {
			replicants = append(replicants, n.Node)
		} else {
			cores = append(cores, n.Node)
		}
	}
	switch {
	case len(cores) > 0:
		return fmt.Sprintf("it runs in another cluster with %s, and an invite would make it drop that cluster's data; waiting for the node that runs alone to rejoin it",
			strings.Join(append(cores, replicants...), ", "))
	case len(replicants) > 0 && oursCores < 2:
		return fmt.Sprintf("it serves replicants %s in another cluster and the answering side runs no more cores than it, so it may hold the data the answering side lost; waiting for the node that runs alone to rejoin it",
			strings.Join(replicants, ", "))
	}
	return ""
}

// inviteeNodes asks a node for its own node list. An invitee whose list cannot be read is not
// judged safe.
func (r *EMQXReconciler) inviteeNodes(ctx context.Context, e *v2beta1.EMQX, o *status.Observed, node string, creds emqxapi.Credentials) ([]emqxapi.Node, error) {
	ep, ok := podEndpoint(e, o, node)
	if !ok {
		return nil, fmt.Errorf("its pod has no address to ask whether it runs with other nodes")
	}
	nodes, err := r.EMQXClients(ep.BaseURL, creds).Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking it whether it runs with other nodes: %w", err)
	}
	return nodes, nil
}

// cacheCaughtUp is the evacuations' safety gate: the plan judged every other node up from the
// cache, which may not show yet a pod this operator deleted a moment ago (the previous pass
// replaced it, and a spec change woke this one at once: chaos soak SEED=1, c0 at 21:30:11, an
// evacuation started 160 ms after the replacement). Evacuating then would be a second node down;
// the pod watch wakes the next pass once the cache has caught up.
func (r *EMQXReconciler) cacheCaughtUp(ctx context.Context, e *v2beta1.EMQX, o *status.Observed, node string) (bool, error) {
	lagging, err := r.cacheLagsBehindPods(ctx, e, o)
	if err != nil {
		return false, err
	}
	if lagging != "" {
		log.FromContext(ctx).V(1).Info("evacuation waits: the cache lags behind the API server", "node", node, "pod", lagging)
		return false, nil
	}
	return true, nil
}

// cacheLagsBehindPods lists the cluster's pods past the cache and names one that differs from
// the cached view the plan judged in what its health gate reads — present, same UID,
// terminating or not, Ready and since when — or "" when none does. The vendor's pods of a
// cluster being adopted (o.Foreign) count too: one retired a moment ago is a node down.
func (r *EMQXReconciler) cacheLagsBehindPods(ctx context.Context, e *v2beta1.EMQX, o *status.Observed) (string, error) {
	live := &corev1.PodList{}
	if err := r.APIReader.List(ctx, live, client.InNamespace(e.Namespace), client.MatchingLabels(e.SelectorLabels())); err != nil {
		return "", fmt.Errorf("reading the cluster's pods before starting an evacuation: %w", err)
	}
	type look struct {
		uid         types.UID
		terminating bool
		ready       corev1.ConditionStatus
		readySince  time.Time
	}
	lookOf := func(p *corev1.Pod) look {
		l := look{uid: p.UID, terminating: p.DeletionTimestamp != nil}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				l.ready, l.readySince = c.Status, c.LastTransitionTime.Time
			}
		}
		return l
	}
	cached := map[string]look{}
	for _, pods := range [][]corev1.Pod{o.Pods, o.Foreign} {
		for i := range pods {
			cached[pods[i].Name] = lookOf(&pods[i])
		}
	}
	for i := range live.Items {
		p := &live.Items[i]
		if c, ok := cached[p.Name]; !ok || c != lookOf(p) {
			return p.Name, nil
		}
		delete(cached, p.Name)
	}
	for name := range cached {
		return name, nil // gone from the API server
	}
	return "", nil
}

// podLeaving reads node's pod past the cache: true when it is gone or terminating.
func (r *EMQXReconciler) podLeaving(ctx context.Context, e *v2beta1.EMQX, node string) (bool, error) {
	pod := &corev1.Pod{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: lifecycle.PodOfNode(e, node)}, pod)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the pod of %s before ending its evacuation: %w", node, err)
	}
	return pod.DeletionTimestamp != nil, nil
}

// podAlreadyGoing reads the pod past the cache: true when it is gone, replaced by another pod of
// the same name, or already terminating.
func (r *EMQXReconciler) podAlreadyGoing(ctx context.Context, pod *corev1.Pod) (bool, error) {
	live := &corev1.Pod{}
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pod), live)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading pod %s before replacing it: %w", pod.Name, err)
	}
	return live.UID != pod.UID || live.DeletionTimestamp != nil, nil
}

// podDeletionCost is the annotation the ReplicaSet controller reads to choose which pod to delete
// when it scales down: the lowest cost goes first.
const podDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

// retireForeignPod removes one evacuated pod of a vendor ReplicaSet: the pod is marked the
// cheapest to delete, then its ReplicaSet is scaled down by one, so the ReplicaSet controller
// deletes exactly that pod (gracefully) and does not replace it. A pod without a ReplicaSet left
// is deleted directly.
func (r *EMQXReconciler) retireForeignPod(ctx context.Context, pod *corev1.Pod, set *appsv1.ReplicaSet) error {
	if set == nil {
		return client.IgnoreNotFound(r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}))
	}
	mark := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"-1000000"}}}`, podDeletionCost))
	if err := r.Client.Patch(ctx, pod, client.RawPatch(types.MergePatchType, mark)); err != nil {
		return client.IgnoreNotFound(err)
	}
	replicas := int32(0)
	if set.Spec.Replicas != nil && *set.Spec.Replicas > 0 {
		replicas = *set.Spec.Replicas - 1
	}
	scale := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	return client.IgnoreNotFound(r.Client.Patch(ctx, set, client.RawPatch(types.MergePatchType, scale)))
}

func target(st lifecycle.Step) string {
	if st.Set != nil && st.Pod == nil {
		return "ReplicaSet " + st.Set.Name
	}
	if st.Pod != nil {
		return "pod " + st.Pod.Name
	}
	return st.Node
}

// apiEndpoints are the ready cores to ask, the node a step is about last (it may be leaving).
func apiEndpoints(o *status.Observed, about string) []emqxapi.Endpoint {
	eps := coreEndpoints(o.Pods)
	var first, last []emqxapi.Endpoint
	for _, ep := range eps {
		if about != "" && len(about) > len(ep.Pod) && about[len("emqx@"):len("emqx@")+len(ep.Pod)] == ep.Pod {
			last = append(last, ep)
		} else {
			first = append(first, ep)
		}
	}
	return append(first, last...)
}

// nodeClock remembers, per key, when the operator first saw something: an evacuation it started
// or saw running (by node), a Ready pod whose node is not listed (by pod UID). It bounds waits.
// It is memory only: after an operator restart a wait starts again when the thing is next seen,
// which only lengthens a bound.
type nodeClock struct {
	mu    sync.Mutex
	start map[string]time.Time
}

// started records now for key unless a time is already recorded, and returns the recorded time.
func (c *nodeClock) started(key string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start == nil {
		c.start = map[string]time.Time{}
	}
	if _, ok := c.start[key]; !ok {
		c.start[key] = time.Now()
	}
	return c.start[key]
}

// restart records now for key, replacing any time recorded before.
func (c *nodeClock) restart(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start == nil {
		c.start = map[string]time.Time{}
	}
	c.start[key] = time.Now()
}

func (c *nodeClock) forget(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.start, node)
}

func (c *nodeClock) snapshot() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]time.Time, len(c.start))
	for k, v := range c.start {
		out[k] = v
	}
	return out
}
