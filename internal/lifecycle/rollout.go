package lifecycle

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
)

func isOutdated(role *Role, p *corev1.Pod) bool {
	rev := role.updateRevision()
	return rev != "" && p.Labels[appsv1.ControllerRevisionHashLabelKey] != rev
}

func outdatedPods(role *Role) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range role.Pods {
		if isOutdated(role, &role.Pods[i]) && role.Pods[i].DeletionTimestamp == nil {
			out = append(out, &role.Pods[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return Ordinal(out[i].Name) > Ordinal(out[j].Name) })
	return out
}

func outdatedAny(s State) bool {
	return len(outdatedPods(&s.Core)) > 0 || len(outdatedPods(&s.Replicant)) > 0
}

// rollOut replaces outdated pods one at a time on the same StatefulSet and PVCs. Order: one core
// first, then every replicant, then the remaining cores, highest ordinal first — a replicant only
// joins cores of its own EMQX release, so a new-version core must exist before any replicant is
// replaced, and an old core must stay while old replicants remain.
func rollOut(s *State, p *Plan) bool {
	coreOut, replOut := outdatedPods(&s.Core), outdatedPods(&s.Replicant)
	if len(coreOut)+len(replOut) == 0 {
		return false
	}
	p.Busy = true

	// An outdated pod that is already down costs nothing to replace: do it first. This is also how
	// a rollout stuck on a bad revision resumes once the spec is fixed.
	for _, role := range []*Role{&s.Core, &s.Replicant} {
		for _, pod := range outdatedPods(role) {
			if ready, _ := PodReady(pod); !ready {
				// Except a replicant that is starting (recreated by a drain, a deletion or the
				// previous rollout) on a release the cores run, while its new revision runs a
				// release no core runs yet: replaced now, it would stay down until a core of that
				// release exists, and that core's evacuation would be a second node down (chaos
				// soak SEED=1, c0 at 20:55:24 and c1 at 21:17:52). Left alone it joins, and the
				// gate below waits for it.
				if role.Name == v2beta1.RoleReplicant && starting(s, pod) && !waitsForItsCore(s, pod) && replacementWaitsForItsCore(s) {
					continue
				}
				p.Step = Step{Kind: ReplacePod, Pod: pod, Disruptive: true}
				p.Reason, p.Role, p.Message = "RollingUpdate", role.Name, fmt.Sprintf("replacing %s, which is down, with the new revision", pod.Name)
				return true
			}
		}
	}
	// Gate: which pods are outdated is known per StatefulSet only once its controller has seen the
	// latest spec. Right after a spec change one StatefulSet's status may have caught up and the
	// other's not: its pods then read as up to date, and a node evacuated for it (by an earlier
	// rollout, or a scale-in the user has just undone) reads as neither departing nor outdated —
	// the plan would start a second evacuation beside it (chaos soak SEED=1, c0 at 14:15:34 and c2
	// at 14:23:48: core-2 evacuated while replicant-0 still was). The controller catches up within
	// moments; its status update wakes the next pass.
	if role := awaitingObservation(s); role != nil {
		p.Reason, p.Role = "WaitingForStatefulSet", role.Name
		p.Message = fmt.Sprintf("the %s StatefulSet's controller has not seen its latest spec yet: which of its pods are outdated is not known", role.Name)
		return true
	}
	// Gate: never take a second node down. Every wanted pod must exist, be Ready for
	// initialDelaySeconds and run as a node of the cluster before the next one is replaced.
	if reason, msg := unhealthy(s); reason != "" {
		p.Reason, p.Message = reason, msg
		return true
	}

	// An evacuation already under way (the spec changed again mid-drain, and the order now names
	// another pod) is finished first: starting a second one would take two nodes down at once.
	if pod, role := drainingOutdated(s, coreOut, replOut); pod != nil {
		return replace(s, p, role, pod, []*corev1.Pod{pod})
	}
	// An outdated replicant that has not joined and runs a release no core runs is down, Ready or
	// not: EMQX refuses it, and no core of that release is coming (the spec changed again after
	// it was made, or its core was replaced since). It is replaced before any other node is
	// evacuated: left alone it would be a second node down beside each core the rollout replaces
	// (found by TestThePlanInTheLoopKeepsOneNodeDown). Not earlier: its replacement counts as a
	// node starting, which must not overlap an evacuation under way.
	//
	// It is drained like any other node first: "unlisted" is the answering node's view, and a
	// Ready replicant it does not list may still serve clients in a cluster of its own (the 90-
	// minute soak on d667c71, SEED=1, c0 at 20:15:40: three replicants with 100 clients each
	// replaced without evacuation). drainUnlisted reads its own API and evacuates it through it.
	if pod := strandedReplicant(s, replOut); pod != nil {
		return replace(s, p, &s.Replicant, pod, []*corev1.Pod{pod})
	}
	target, role := coreOut, &s.Core
	switch {
	case len(coreOut) > 0 && !anyCoreOnNewRevision(s):
		// no core runs the new revision yet: one core goes first. A core pod already deleted
		// (terminating, not yet back) does not count: a replicant replaced now would find no core
		// of its release and be refused.
		//
		// A replicant evacuated for an earlier revision (the spec changed again mid-drain) must
		// now wait for that core: its evacuation ends first, or the core's would be a second
		// node down (chaos soak SEED=1, c0 at 21:29:18: both started 20 ms apart).
		if node := evacuatingNode(s, replOut); node != "" {
			p.Step, p.Role = Step{Kind: StopEvacuation, Node: node}, v2beta1.RoleReplicant
			p.Reason, p.Message = "StoppingEvacuation", fmt.Sprintf("node %s waits for a core of the new revision: ending its evacuation so it accepts clients again", node)
			return true
		}
		return replace(s, p, role, firstCore(s, coreOut), target)
	case len(replOut) > 0:
		target, role = replOut, &s.Replicant
	}
	return replace(s, p, role, target[0], target)
}

// firstCore is the core to replace first, the highest ordinal among those whose release is not
// the last one some replicant needs. A replicant only talks to cores of its own release, and the
// spec may change again mid-rollout (A→B→C): the one core already on B is then the highest
// ordinal, and replacing it first would leave the replicants on B without a core until each is
// replaced in turn — EMQX's advice is to keep cores of both releases until every replicant has
// moved. When every outdated core is such a last one, the highest ordinal goes as before.
func firstCore(s *State, coreOut []*corev1.Pod) *corev1.Pod {
	for _, pod := range coreOut {
		if !lastCoreForReplicants(s, pod) {
			return pod
		}
	}
	return coreOut[0]
}

// lastCoreForReplicants: core is the only live core of its EMQX release and a live replicant runs
// that release.
func lastCoreForReplicants(s *State, core *corev1.Pod) bool {
	release := emqxRelease(core)
	if !release.Known() {
		return false
	}
	for i := range s.Core.Pods {
		if p := &s.Core.Pods[i]; p != core && p.Name != core.Name && p.DeletionTimestamp == nil && emqxRelease(p) == release {
			return false
		}
	}
	for i := range s.Replicant.Pods {
		if p := &s.Replicant.Pods[i]; p.DeletionTimestamp == nil && emqxRelease(p) == release {
			return true
		}
	}
	return false
}

// awaitingObservation is a role whose StatefulSet exists but whose status does not yet describe
// its latest spec (nil when both do).
func awaitingObservation(s *State) *Role {
	for _, role := range []*Role{&s.Core, &s.Replicant} {
		if role.Set != nil && role.updateRevision() == "" {
			return role
		}
	}
	return nil
}

// replace drains pod (one of target, the role's outdated pods) and then replaces it.
func replace(s *State, p *Plan, role *Role, pod *corev1.Pod, target []*corev1.Pod) bool {
	p.Role = role.Name
	node := NodeName(s.Cluster, pod.Name)
	drained, step, why := drain(s, role, node, pod.Name)
	if !drained {
		p.Step, p.Reason, p.Message = step, "RollingUpdate", fmt.Sprintf("%d %s pods to update: %s", len(target), role.Name, why)
		return true
	}
	p.Step = Step{Kind: ReplacePod, Pod: pod, Disruptive: true}
	p.Reason, p.Message = "RollingUpdate", fmt.Sprintf("replacing %s with the new revision (%s)", pod.Name, why)
	return true
}

// strandedReplicant is one of the outdated replicants that has not joined and runs a release no
// live core runs (nil if none).
func strandedReplicant(s *State, replOut []*corev1.Pod) *corev1.Pod {
	for _, pod := range replOut {
		if waitsForItsCore(s, pod) && !s.running(NodeName(s.Cluster, pod.Name)) {
			return pod
		}
	}
	return nil
}

// evacuatingNode is the node of one of pods that is running and being evacuated ("" if none).
func evacuatingNode(s *State, pods []*corev1.Pod) string {
	for _, pod := range pods {
		node := NodeName(s.Cluster, pod.Name)
		if _, ok := s.Evacuations[node]; ok && s.running(node) {
			return node
		}
	}
	return ""
}

// replacementWaitsForItsCore: a replicant made now from the replicant StatefulSet's template
// would run a release no live core runs, and EMQX would refuse it until one does.
func replacementWaitsForItsCore(s *State) bool {
	if s.Replicant.Set == nil {
		return false
	}
	return waitsForItsCore(s, &corev1.Pod{Spec: s.Replicant.Set.Spec.Template.Spec})
}

// starting: the pod was made less than StuckAfter ago and none of its containers waits for a
// reason other than being created (CrashLoopBackOff, ImagePullBackOff … are stuck at once).
func starting(s *State, p *corev1.Pod) bool {
	return s.Now.Sub(p.CreationTimestamp.Time) < StuckAfter && waitingReason(p) == ""
}

// drainingOutdated is an outdated pod whose node is being evacuated, if replacing it now keeps
// EMQX's order: any core, or a replicant once a core runs the new revision.
func drainingOutdated(s *State, coreOut, replOut []*corev1.Pod) (*corev1.Pod, *Role) {
	for _, pod := range coreOut {
		if _, ok := s.Evacuations[NodeName(s.Cluster, pod.Name)]; ok {
			return pod, &s.Core
		}
	}
	if !anyCoreOnNewRevision(s) && len(coreOut) > 0 {
		return nil, nil
	}
	for _, pod := range replOut {
		if _, ok := s.Evacuations[NodeName(s.Cluster, pod.Name)]; ok {
			return pod, &s.Replicant
		}
	}
	return nil, nil
}

// unhealthy says why the cluster is not in a state where another node may go ("" when it is).
func unhealthy(s *State) (string, string) {
	delay := time.Duration(s.Cluster.Spec.UpdateStrategy.InitialDelay()) * time.Second
	for _, role := range []*Role{&s.Core, &s.Replicant} {
		if role.Set == nil {
			if role.Want > 0 {
				return "WaitingForHealthyCluster", fmt.Sprintf("the %s StatefulSet does not exist yet", role.Name)
			}
			continue
		}
		if int32(len(role.Pods)) != role.Want || role.current() != role.Want {
			return "WaitingForHealthyCluster", fmt.Sprintf("%d of %d %s pods exist", len(role.Pods), role.Want, role.Name)
		}
		for i := range role.Pods {
			pod := &role.Pods[i]
			// A terminating pod is on its way down even while it still reads Ready and its node
			// still answers (the preStop hook is evacuating it): it counts as the node that is down.
			if pod.DeletionTimestamp != nil {
				return "WaitingForHealthyCluster", fmt.Sprintf("pod %s is terminating", pod.Name)
			}
			ready, since := PodReady(pod)
			if role.Name == v2beta1.RoleReplicant && waitsForItsCore(s, pod) {
				// This replicant runs a release no core runs yet (recreated after a deletion or a
				// drain, or replaced while it was down): EMQX refuses it until a core of its release
				// exists, and only replacing the first core brings one. Waiting for it would wait for
				// ever; it serves no client meanwhile, so replacing a core costs no more than now.
				continue
			}
			if !ready {
				if !isOutdated(role, pod) {
					return "RolloutBlocked", fmt.Sprintf("pod %s of the new revision is not ready%s; the rollout waits with one node down — fix the spec to resume", pod.Name, waitingReason(pod))
				}
				return "WaitingForHealthyCluster", fmt.Sprintf("pod %s is not ready", pod.Name)
			}
			if node := NodeName(s.Cluster, pod.Name); !s.running(node) {
				return "WaitingForHealthyCluster", fmt.Sprintf("node %s has not joined the cluster yet", node)
			}
			if s.Now.Sub(since) < delay {
				return "WaitingForHealthyCluster", fmt.Sprintf("pod %s has been ready for less than %s", pod.Name, delay)
			}
		}
	}
	return "", ""
}

// waitingReason quotes why a pod's containers do not run (ImagePullBackOff, CrashLoopBackOff …).
func waitingReason(p *corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
			msg := ": " + w.Reason
			if w.Message != "" {
				msg += " (" + w.Message + ")"
			}
			return msg
		}
	}
	return ""
}

// anyCoreOnNewRevision: a core pod, not terminating, runs the core StatefulSet's update revision.
func anyCoreOnNewRevision(s *State) bool {
	for i := range s.Core.Pods {
		if p := &s.Core.Pods[i]; p.DeletionTimestamp == nil && !isOutdated(&s.Core, p) {
			return true
		}
	}
	return false
}

// waitsForItsCore: the pod (a replicant) runs an EMQX release that no live core pod runs. EMQX
// refuses a replicant without a core of its own release ("no_available_core_node_at_same_version").
// Releases, not image references, are compared: a mirror or a digest of the same release joins.
func waitsForItsCore(s *State, replicant *corev1.Pod) bool {
	release := emqxRelease(replicant)
	if !release.Known() {
		return false // an image whose release the operator cannot read: nothing to say about it
	}
	for i := range s.Core.Pods {
		if p := &s.Core.Pods[i]; p.DeletionTimestamp == nil && emqxRelease(p) == release {
			return false
		}
	}
	return true
}

// emqxRelease is the EMQX release of a pod's EMQX container (zero when unknown).
func emqxRelease(p *corev1.Pod) upgradepath.Version {
	return upgradepath.OfImage(emqxImage(p))
}

// emqxImage is the image of a pod's EMQX container ("" when the pod has none).
func emqxImage(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name == EMQXContainer {
			return c.Image
		}
	}
	return ""
}
