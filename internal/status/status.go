package status

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/version"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/licensing"
)

// Compute returns the new status from what the pass observed (o) and its reports (r). prev is the
// current status: condition transition times, and what a concern the pass did not look at keeps.
func Compute(e *v2beta1.EMQX, prev v2beta1.EMQXStatus, o *Observed, r Reports) v2beta1.EMQXStatus {
	if o == nil || o.ReadErr != nil {
		return unobserved(e, prev, o)
	}
	s := v2beta1.EMQXStatus{
		ObservedGeneration:    e.Generation,
		Conditions:            slices.Clone(prev.Conditions),
		AppliedConfigRevision: r.Config.AppliedRevision,
	}
	set := func(t string, ok bool, reason, msg string) {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{
			Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: e.Generation,
		})
	}

	if r.Spec.Reason != "" {
		set(v2beta1.ConfigValid, false, r.Spec.Reason, r.Spec.Message)
	} else {
		set(v2beta1.ConfigValid, true, "Valid", "the spec passed the operator's checks")
	}
	if r.Apply.Applied {
		set(v2beta1.Initialized, true, "Applied", "every object of the cluster has been applied")
	} else if meta.FindStatusCondition(s.Conditions, v2beta1.Initialized) == nil {
		msg := "waiting for the first successful apply"
		if r.Apply.Error != "" {
			msg = r.Apply.Error
		}
		set(v2beta1.Initialized, false, "NotApplied", msg)
	}
	if r.Admission.Reason != "" {
		set(v2beta1.PodsAdmitted, false, r.Admission.Reason, r.Admission.Message)
	} else {
		set(v2beta1.PodsAdmitted, true, "Admitted", "the API server accepts the cluster's pods")
	}

	s.CoreNodesStatus = setStatus(o.CoreSet)
	s.ReplicantNodesStatus = setStatus(o.ReplicantSet)
	if e.Spec.ReplicantTemplate != nil {
		s.ReplicantNodesSelector = labels.SelectorFromSet(e.RoleSelectorLabels(v2beta1.RoleReplicant)).String()
	}
	s.CoreNodes, s.ReplicantNodes = nodeLists(e, o)

	coreWant, replWant := e.CoreReplicas(), e.ReplicantReplicas()
	coresJoined := o.CoreSet != nil && o.RoleJoined(e, v2beta1.RoleCore, coreWant)
	replJoined := replWant == 0 || (o.ReplicantSet != nil && o.RoleJoined(e, v2beta1.RoleReplicant, replWant))

	coreProg, coreMsg := progress(e, o, v2beta1.RoleCore, o.CoreSet, coreWant)
	if r.Progress.Reason != "" && r.Progress.Role != v2beta1.RoleReplicant {
		coreProg, coreMsg = r.Progress.Reason, r.Progress.Message
	}
	set(v2beta1.CoreNodesProgressing, coreProg != "", orDone(coreProg), coreMsg)
	set(v2beta1.CoreNodesReady, coresJoined, readyReason(coresJoined), joinedMessage(e, o, v2beta1.RoleCore, coreWant))

	switch {
	case replWant == 0:
		set(v2beta1.ReplicantNodesProgressing, false, "NoReplicants", "the cluster has no replicant nodes")
		set(v2beta1.ReplicantNodesReady, true, "NoReplicants", "the cluster has no replicant nodes")
	case o.ReplicantSet == nil:
		set(v2beta1.ReplicantNodesProgressing, true, "WaitingForCores", "replicants start once every core node has joined")
		set(v2beta1.ReplicantNodesReady, false, "WaitingForCores", "replicants start once every core node has joined")
	default:
		replProg, replMsg := progress(e, o, v2beta1.RoleReplicant, o.ReplicantSet, replWant)
		if r.Progress.Reason != "" && r.Progress.Role == v2beta1.RoleReplicant {
			replProg, replMsg = r.Progress.Reason, r.Progress.Message
		}
		set(v2beta1.ReplicantNodesProgressing, replProg != "", orDone(replProg), replMsg)
		set(v2beta1.ReplicantNodesReady, replJoined, readyReason(replJoined), joinedMessage(e, o, v2beta1.RoleReplicant, replWant))
	}

	running := 0
	for _, n := range o.Nodes {
		if n.NodeStatus == "running" {
			running++
		}
	}
	available := running > 0
	availMsg := fmt.Sprintf("%d EMQX node(s) running", running)
	if o.NodesErr != nil {
		availMsg = "EMQX API: " + o.NodesErr.Error()
	}
	set(v2beta1.Available, available, map[bool]string{true: "NodesRunning", false: "NoNodeRunning"}[available], availMsg)

	licenseCondition(e, &s, prev, r, set)
	tlsCondition(e, &s, prev, r, set)
	restored := restoreCondition(e, &s, prev, r, set)
	dsReady, dsReason, dsMsg := dsCondition(&s, prev, r, set)
	pluginsReady, pluginsMsg := pluginsCondition(&s, emqxRestarts(o), r, set)
	monitoringCondition(e, &s, r, set)

	if r.Paused {
		set(v2beta1.Paused, true, "PauseAnnotation", "the "+v2beta1.PauseAnnotation+" annotation holds every change back; remove it to resume")
	} else {
		set(v2beta1.Paused, false, "NotPaused", "changes are applied")
	}

	nodesReady := r.Spec.Reason == "" && r.Apply.Applied && r.Admission.Reason == "" && !r.Progress.Busy && !r.Paused && coresJoined && replJoined &&
		len(s.CoreNodes)+len(s.ReplicantNodes) == int(coreWant+replWant) && allRunning(s)
	// A cluster made to start from a backup is not Ready on empty data: clients would connect
	// to a broker without its sessions, rules and users.
	// Nor while durable-storage replicas are short or moving: a node lost now could take the
	// last copy of a shard with it.
	// Nor before every running node runs the cluster's plugins: a node without an auth or
	// routing plugin would serve clients differently from the others.
	ready := nodesReady && restored && dsReady && pluginsReady
	readyMsg := "every node has joined the cluster and is running"
	readyReasonStr := "ClusterReady"
	switch {
	case r.Spec.Reason != "":
		readyReasonStr, readyMsg = r.Spec.Reason, r.Spec.Message
	case r.Admission.Reason != "":
		readyReasonStr, readyMsg = r.Admission.Reason, r.Admission.Message
	case r.Paused:
		readyReasonStr, readyMsg = "Paused", "changes are held back by the "+v2beta1.PauseAnnotation+" annotation"
	case !r.Apply.Applied && r.Apply.Error != "":
		readyReasonStr, readyMsg = "ApplyFailed", r.Apply.Error
	case r.Progress.Busy && coresJoined && replJoined:
		readyReasonStr, readyMsg = r.Progress.Reason, r.Progress.Message
	case nodesReady && !restored:
		readyReasonStr, readyMsg = "RestoringData", "waiting for the restore of spec.restoreFrom: "+restoreMessage(&s, r)
		if s.Restore != nil && s.Restore.Phase == v2beta1.BackupFailed {
			readyReasonStr = "RestoreFailed"
		}
	case nodesReady && restored && !dsReady:
		readyReasonStr, readyMsg = dsReason, "durable storage: "+dsMsg
	case nodesReady && restored && dsReady && !pluginsReady:
		readyReasonStr, readyMsg = "PluginsNotReady", "plugins: "+pluginsMsg
	case !ready:
		readyReasonStr = "NodesNotReady"
		readyMsg = fmt.Sprintf("%d of %d nodes running in the cluster", running, coreWant+replWant)
		if down := stoppedNodes(s); len(down) > 0 {
			readyMsg += "; stopped: " + strings.Join(down, ", ")
		}
		if missing := missingNodes(e, o); len(missing) > 0 {
			readyMsg += "; not in the cluster: " + strings.Join(missing, ", ")
		}
	}
	set(v2beta1.Ready, ready, readyReasonStr, readyMsg)

	sortConditions(s.Conditions)
	s.ReadyNodes = fmt.Sprintf("%d/%d", running, coreWant+replWant)
	s.EMQXVersion = lowestVersion(o)
	s.Phase = phase(s, r)
	return s
}

// monitoringCondition: MonitoringReady while spec.monitoring.podMonitor is set. It never holds
// Ready: a cluster serves its clients whether or not Prometheus can read it.
func monitoringCondition(e *v2beta1.EMQX, s *v2beta1.EMQXStatus, r Reports, set func(string, bool, string, string)) {
	switch {
	case !e.WantsPodMonitor() && r.Monitoring.Removed:
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.MonitoringReady)
	case !e.WantsPodMonitor():
		// A pass that stopped before the Monitoring step: the PodMonitor may still be there.
	case r.Monitoring.Observed:
		set(v2beta1.MonitoringReady, r.Monitoring.OK, r.Monitoring.Reason, r.Monitoring.Message)
	}
}

// licenseCondition: LicenseValid when the user gave a licence (LicenseSource: spec.license,
// config.data or env); the running licence in status in any case, as EMQX reports it.
func licenseCondition(e *v2beta1.EMQX, s *v2beta1.EMQXStatus, prev v2beta1.EMQXStatus, r Reports, set func(string, bool, string, string)) {
	s.License = prev.License
	if r.License.Running != nil {
		s.License = r.License.Running
	}
	source := licensing.Source(e)
	switch {
	case r.Spec.Reason == licensing.ReasonSingleNode:
		set(v2beta1.LicenseValid, false, r.Spec.Reason, r.Spec.Message)
	case source == "":
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.LicenseValid)
	case r.License.Reason != "":
		set(v2beta1.LicenseValid, false, r.License.Reason, r.License.Message)
	case r.License.OKReason != "":
		set(v2beta1.LicenseValid, true, r.License.OKReason, r.License.Message)
	case r.License.Observed:
		set(v2beta1.LicenseValid, true, "Valid", "the licence from "+source+" is in use")
	}
}

// restoreCondition: DataRestored and status.restore from spec.restoreFrom; it returns whether the
// cluster has its data (always true without spec.restoreFrom).
func restoreCondition(e *v2beta1.EMQX, s *v2beta1.EMQXStatus, prev v2beta1.EMQXStatus, r Reports, set func(string, bool, string, string)) bool {
	s.Restore = prev.Restore
	if r.Restore.Observed {
		s.Restore = r.Restore.Status
	}
	if e.Spec.RestoreFrom == nil {
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.DataRestored)
		return true
	}
	switch {
	case s.Restore == nil:
		set(v2beta1.DataRestored, false, "Pending", "the restore of backup "+e.Spec.RestoreFrom.BackupName+" has not been created yet")
	case s.Restore.Phase == v2beta1.BackupSucceeded:
		set(v2beta1.DataRestored, true, "Restored", "backup "+e.Spec.RestoreFrom.BackupName+" imported (EMQXRestore "+s.Restore.Name+")")
		return true
	case r.Restore.Observed:
		set(v2beta1.DataRestored, false, s.Restore.Phase, r.Restore.Message)
	}
	return false
}

func restoreMessage(s *v2beta1.EMQXStatus, r Reports) string {
	if r.Restore.Message != "" {
		return r.Restore.Message
	}
	if c := meta.FindStatusCondition(s.Conditions, v2beta1.DataRestored); c != nil {
		return c.Message
	}
	return "not started"
}

// tlsCondition: TLSCertificateReady and status.tls from spec.tls.
func tlsCondition(e *v2beta1.EMQX, s *v2beta1.EMQXStatus, prev v2beta1.EMQXStatus, r Reports, set func(string, bool, string, string)) {
	if e.Spec.TLS == nil {
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.TLSCertificateReady)
		return
	}
	s.TLS = prev.TLS
	if r.TLS.Served != nil {
		s.TLS = r.TLS.Served
	}
	switch {
	case r.TLS.Observed:
		set(v2beta1.TLSCertificateReady, r.TLS.OK, r.TLS.Reason, r.TLS.Message)
	case meta.FindStatusCondition(s.Conditions, v2beta1.TLSCertificateReady) == nil:
		set(v2beta1.TLSCertificateReady, false, "Pending", "no certificate has been rolled out yet")
	}
}

func orDone(reason string) string {
	if reason == "" {
		return "Done"
	}
	return reason
}

func readyReason(ok bool) string {
	if ok {
		return "AllJoined"
	}
	return "NotAllJoined"
}

func joinedMessage(e *v2beta1.EMQX, o *Observed, role string, want int32) string {
	running := len(o.RunningNodes(role))
	return fmt.Sprintf("%d of %d %s nodes running in the cluster", running, want, role)
}

// progress says why a role is still changing ("" when it is not).
func progress(e *v2beta1.EMQX, o *Observed, role string, set *appsv1.StatefulSet, want int32) (string, string) {
	if set == nil {
		return "Creating", "the " + role + " StatefulSet is being created"
	}
	pods := o.PodsOfRole(role)
	switch {
	case int32(len(pods)) < want:
		return "ScalingOut", fmt.Sprintf("%d of %d %s pods exist", len(pods), want, role)
	case int32(len(pods)) > want:
		return "ScalingIn", fmt.Sprintf("%d %s pods exist, %d wanted", len(pods), role, want)
	}
	outdated := 0
	for _, p := range pods {
		if set.Status.UpdateRevision != "" && p.Labels[appsv1.ControllerRevisionHashLabelKey] != set.Status.UpdateRevision {
			outdated++
		}
	}
	if outdated > 0 {
		return "Updating", fmt.Sprintf("%d %s pods run an older revision", outdated, role)
	}
	if !o.RoleJoined(e, role, want) {
		return "Joining", fmt.Sprintf("waiting for %s nodes to be ready and join the cluster", role)
	}
	return "", fmt.Sprintf("%d %s nodes up to date", want, role)
}

func setStatus(s *appsv1.StatefulSet) v2beta1.EMQXNodesStatus {
	if s == nil {
		return v2beta1.EMQXNodesStatus{}
	}
	return v2beta1.EMQXNodesStatus{
		Replicas:        s.Status.Replicas,
		ReadyReplicas:   s.Status.ReadyReplicas,
		CurrentRevision: s.Status.CurrentRevision,
		CurrentReplicas: s.Status.CurrentReplicas,
		UpdateRevision:  s.Status.UpdateRevision,
		UpdateReplicas:  s.Status.UpdatedReplicas,
	}
}

func nodeLists(e *v2beta1.EMQX, o *Observed) (core, repl []v2beta1.EMQXNode) {
	podUID := map[string]string{}
	for _, p := range o.Pods {
		podUID[p.Name] = string(p.UID)
	}
	for _, n := range o.Nodes {
		pod := PodForNode(e, n.Node)
		node := v2beta1.EMQXNode{
			Node: n.Node, NodeStatus: n.NodeStatus, OTPRelease: n.OTPRelease, Version: n.Version,
			Role: n.Role, Edition: n.Edition, Connections: n.Connections, LiveConnections: n.LiveConnections,
		}
		if uid, ok := podUID[pod]; ok {
			node.PodUID = typesUID(uid)
		}
		if n.Role == v2beta1.RoleReplicant {
			if o.ReplicantSet != nil && pod != "" {
				node.ControllerUID = o.ReplicantSet.UID
			}
			repl = append(repl, node)
		} else {
			if o.CoreSet != nil && pod != "" {
				node.ControllerUID = o.CoreSet.UID
			}
			core = append(core, node)
		}
	}
	sort.Slice(core, func(i, j int) bool { return core[i].Node < core[j].Node })
	sort.Slice(repl, func(i, j int) bool { return repl[i].Node < repl[j].Node })
	return core, repl
}

// missingNodes are nodes of existing pods that EMQX does not list as running (down, hung, or
// not joined).
func missingNodes(e *v2beta1.EMQX, o *Observed) []string {
	if o.NodesErr != nil {
		return nil
	}
	running := map[string]bool{}
	for _, n := range o.Nodes {
		if n.NodeStatus == "running" {
			running[n.Node] = true
		}
	}
	var out []string
	for _, p := range o.Pods {
		if name := NodeName(e, p.Name); !running[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func allRunning(s v2beta1.EMQXStatus) bool {
	return len(stoppedNodes(s)) == 0
}

func stoppedNodes(s v2beta1.EMQXStatus) []string {
	var down []string
	for _, n := range append(slices.Clone(s.CoreNodes), s.ReplicantNodes...) {
		if n.NodeStatus != "running" {
			down = append(down, n.Node)
		}
	}
	return down
}

func lowestVersion(o *Observed) string {
	var lowest *version.Version
	raw := ""
	for _, n := range o.Nodes {
		v, err := version.ParseGeneric(n.Version)
		if err != nil {
			continue
		}
		if lowest == nil || v.LessThan(lowest) {
			lowest, raw = v, n.Version
		}
	}
	return raw
}

// sortConditions keeps the documented order, Ready last, whatever order they were added in.
func sortConditions(c []metav1.Condition) {
	idx := func(t string) int {
		if i := slices.Index(v2beta1.ConditionTypes, t); i >= 0 {
			return i
		}
		return len(v2beta1.ConditionTypes) - 1 // unknown types before Ready
	}
	sort.SliceStable(c, func(i, j int) bool {
		ii, jj := idx(c[i].Type), idx(c[j].Type)
		if c[i].Type == v2beta1.Ready {
			ii = len(v2beta1.ConditionTypes)
		}
		if c[j].Type == v2beta1.Ready {
			jj = len(v2beta1.ConditionTypes)
		}
		return ii < jj
	})
}

func phase(s v2beta1.EMQXStatus, r Reports) string {
	switch {
	case r.Paused:
		return "Paused"
	case r.Spec.Reason != "":
		return "ConfigError"
	case r.Admission.Reason != "":
		return "PodsRefused"
	case meta.IsStatusConditionTrue(s.Conditions, v2beta1.Ready):
		return "Ready"
	case meta.IsStatusConditionTrue(s.Conditions, v2beta1.CoreNodesProgressing),
		meta.IsStatusConditionTrue(s.Conditions, v2beta1.ReplicantNodesProgressing),
		dsMoving(s):
		return "Progressing"
	default:
		return "Degraded"
	}
}

// unobserved is the status of a pass that could not read the cluster's objects: what earlier passes
// saw stands (an empty view would report every node gone), and Ready says it is not known now.
func unobserved(e *v2beta1.EMQX, prev v2beta1.EMQXStatus, o *Observed) v2beta1.EMQXStatus {
	s := *prev.DeepCopy()
	msg := "the operator could not read the cluster's workloads and pods"
	if o != nil && o.ReadErr != nil {
		msg += ": " + o.ReadErr.Error()
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: v2beta1.Ready, Status: metav1.ConditionUnknown, Reason: ReasonCacheReadFailed, Message: msg,
		ObservedGeneration: e.Generation,
	})
	sortConditions(s.Conditions)
	// readyNodes stays the last count seen; the phase must not go on saying Ready.
	s.Phase = "Unknown"
	return s
}

// ReasonCacheReadFailed: Ready is Unknown because the operator could not read the cluster's objects.
const ReasonCacheReadFailed = "CacheReadFailed"
