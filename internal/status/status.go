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
)

// Problems are conditions the reconcile found that block progress.
type Problems struct {
	// Config is a spec error (reason, message); nothing was applied.
	ConfigReason, ConfigMessage string
	// Admission is why the API server refuses a workload's pods.
	AdmissionReason, AdmissionMessage string
	// Applied is false when applying the desired objects failed.
	ApplyError string
	Applied    bool
	// Progress is what the lifecycle layer is doing or waiting for (scale-in, rolling update).
	ProgressRole, ProgressReason, ProgressMessage string
	// Busy: a scale-in or rolling update is under way.
	Busy bool
	// Paused: the pause annotation holds every change back.
	Paused bool
	// AppliedConfigRevision is the config revision the running cluster has accepted.
	AppliedConfigRevision string
	// License is the running licence; LicenseReason/Message a licence problem (LicenseValid=False)
	// and LicenseOKReason a notice on a valid licence (ExpiringSoon).
	License                                        *v2beta1.LicenseStatus
	LicenseReason, LicenseOKReason, LicenseMessage string
	// LicenseObserved: this pass looked at the licence; otherwise the previous status stands
	// (a pass that stops early must not flip what an earlier one saw).
	LicenseObserved bool

	// TLS is the certificate in use and how many nodes serve it. TLSOK: every node serves it;
	// TLSReason/TLSMessage otherwise say why not (rotating, refused source, waiting for
	// cert-manager). TLSRotating asks for a quick look again. Without TLSReason and TLSOK this
	// pass did not look, and the previous status stands.
	TLS                   *v2beta1.TLSStatus
	TLSOK, TLSRotating    bool
	TLSReason, TLSMessage string

	// Restore is the restore of spec.restoreFrom as this pass saw it (nil: not looked at; the
	// previous status stands), RestoreMessage what it says.
	Restore        *v2beta1.RestoreStatus
	RestoreMessage string
}

// Compute returns the new status. prev is the current status (for condition transition times).
func Compute(e *v2beta1.EMQX, prev v2beta1.EMQXStatus, o *Observed, p Problems) v2beta1.EMQXStatus {
	if o == nil || o.ReadErr != nil {
		return unobserved(e, prev, o)
	}
	s := v2beta1.EMQXStatus{
		ObservedGeneration:    e.Generation,
		Conditions:            slices.Clone(prev.Conditions),
		AppliedConfigRevision: p.AppliedConfigRevision,
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

	if p.ConfigReason != "" {
		set(v2beta1.ConfigValid, false, p.ConfigReason, p.ConfigMessage)
	} else {
		set(v2beta1.ConfigValid, true, "Valid", "the spec passed the operator's checks")
	}
	if p.Applied {
		set(v2beta1.Initialized, true, "Applied", "every object of the cluster has been applied")
	} else if meta.FindStatusCondition(s.Conditions, v2beta1.Initialized) == nil {
		msg := "waiting for the first successful apply"
		if p.ApplyError != "" {
			msg = p.ApplyError
		}
		set(v2beta1.Initialized, false, "NotApplied", msg)
	}
	if p.AdmissionReason != "" {
		set(v2beta1.PodsAdmitted, false, p.AdmissionReason, p.AdmissionMessage)
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
	if p.ProgressReason != "" && p.ProgressRole != v2beta1.RoleReplicant {
		coreProg, coreMsg = p.ProgressReason, p.ProgressMessage
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
		if p.ProgressReason != "" && p.ProgressRole == v2beta1.RoleReplicant {
			replProg, replMsg = p.ProgressReason, p.ProgressMessage
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

	licenseCondition(e, &s, prev, p, set)
	tlsCondition(e, &s, prev, p, set)
	restored := restoreCondition(e, &s, prev, p, set)

	if p.Paused {
		set(v2beta1.Paused, true, "PauseAnnotation", "the "+v2beta1.PauseAnnotation+" annotation holds every change back; remove it to resume")
	} else {
		set(v2beta1.Paused, false, "NotPaused", "changes are applied")
	}

	nodesReady := p.ConfigReason == "" && p.Applied && p.AdmissionReason == "" && !p.Busy && !p.Paused && coresJoined && replJoined &&
		len(s.CoreNodes)+len(s.ReplicantNodes) == int(coreWant+replWant) && allRunning(s)
	// A cluster made to start from a backup is not Ready on empty data: clients would connect
	// to a broker without its sessions, rules and users.
	ready := nodesReady && restored
	readyMsg := "every node has joined the cluster and is running"
	readyReasonStr := "ClusterReady"
	switch {
	case p.ConfigReason != "":
		readyReasonStr, readyMsg = p.ConfigReason, p.ConfigMessage
	case p.AdmissionReason != "":
		readyReasonStr, readyMsg = p.AdmissionReason, p.AdmissionMessage
	case p.Paused:
		readyReasonStr, readyMsg = "Paused", "changes are held back by the "+v2beta1.PauseAnnotation+" annotation"
	case !p.Applied && p.ApplyError != "":
		readyReasonStr, readyMsg = "ApplyFailed", p.ApplyError
	case p.Busy && coresJoined && replJoined:
		readyReasonStr, readyMsg = p.ProgressReason, p.ProgressMessage
	case nodesReady && !restored:
		readyReasonStr, readyMsg = "RestoringData", "waiting for the restore of spec.restoreFrom: "+restoreMessage(&s, p)
		if s.Restore != nil && s.Restore.Phase == v2beta1.BackupFailed {
			readyReasonStr = "RestoreFailed"
		}
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
	s.Phase = phase(s, p)
	return s
}

// licenseCondition: LicenseValid from spec.license; the running licence in status (also without
// spec.license, as EMQX reports it).
func licenseCondition(e *v2beta1.EMQX, s *v2beta1.EMQXStatus, prev v2beta1.EMQXStatus, p Problems, set func(string, bool, string, string)) {
	s.License = prev.License
	if p.License != nil {
		s.License = p.License
	}
	switch {
	case e.Spec.License == nil:
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.LicenseValid)
	case p.LicenseReason != "":
		set(v2beta1.LicenseValid, false, p.LicenseReason, p.LicenseMessage)
	case p.LicenseOKReason != "":
		set(v2beta1.LicenseValid, true, p.LicenseOKReason, p.LicenseMessage)
	case p.LicenseObserved:
		set(v2beta1.LicenseValid, true, "Valid", "the licence from spec.license is in use")
	}
}

// restoreCondition: DataRestored and status.restore from spec.restoreFrom; it returns whether the
// cluster has its data (always true without spec.restoreFrom).
func restoreCondition(e *v2beta1.EMQX, s *v2beta1.EMQXStatus, prev v2beta1.EMQXStatus, p Problems, set func(string, bool, string, string)) bool {
	s.Restore = prev.Restore
	if p.Restore != nil {
		s.Restore = p.Restore
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
	case p.Restore != nil:
		set(v2beta1.DataRestored, false, s.Restore.Phase, p.RestoreMessage)
	}
	return false
}

func restoreMessage(s *v2beta1.EMQXStatus, p Problems) string {
	if p.RestoreMessage != "" {
		return p.RestoreMessage
	}
	if c := meta.FindStatusCondition(s.Conditions, v2beta1.DataRestored); c != nil {
		return c.Message
	}
	return "not started"
}

// tlsCondition: TLSCertificateReady and status.tls from spec.tls.
func tlsCondition(e *v2beta1.EMQX, s *v2beta1.EMQXStatus, prev v2beta1.EMQXStatus, p Problems, set func(string, bool, string, string)) {
	if e.Spec.TLS == nil {
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.TLSCertificateReady)
		return
	}
	s.TLS = prev.TLS
	if p.TLS != nil {
		s.TLS = p.TLS
	}
	switch {
	case p.TLSReason != "":
		set(v2beta1.TLSCertificateReady, p.TLSOK, p.TLSReason, p.TLSMessage)
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

func phase(s v2beta1.EMQXStatus, p Problems) string {
	switch {
	case p.Paused:
		return "Paused"
	case p.ConfigReason != "":
		return "ConfigError"
	case p.AdmissionReason != "":
		return "PodsRefused"
	case meta.IsStatusConditionTrue(s.Conditions, v2beta1.Ready):
		return "Ready"
	case meta.IsStatusConditionTrue(s.Conditions, v2beta1.CoreNodesProgressing),
		meta.IsStatusConditionTrue(s.Conditions, v2beta1.ReplicantNodesProgressing):
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
