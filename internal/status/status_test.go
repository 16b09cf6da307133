package status

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

const (
	T = metav1.ConditionTrue
	F = metav1.ConditionFalse

	// generation is the EMQX's; prevGeneration the one the previous status was written for.
	generation, prevGeneration = 7, 6
)

// t0 is when every condition of a previous status last changed.
var t0 = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

// n is the EMQX node name of one of the fixture cluster's pods (cluster c in namespace ns).
func n(pod string) string { return "emqx@" + pod + ".c-headless.ns.svc.cluster.local" }

// newEMQX is cluster c with the given replicas, defaulted as the API server would.
func newEMQX(cores, replicants int32) *v2beta1.EMQX {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", Generation: generation}}
	e.Spec.Image = "emqx/emqx-enterprise:5.8.6"
	e.Spec.CoreTemplate.Spec.Replicas = ptr.To(cores)
	if replicants > 0 {
		e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(replicants)}}
	}
	e.Default()
	return e
}

// healthy is what a reconcile sees of a converged cluster: both StatefulSets on revision r1,
// every pod of it Ready, every node running.
func healthy(e *v2beta1.EMQX) *Observed {
	o := &Observed{}
	role := func(name, set string, want int32) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: set, Namespace: "ns", UID: types.UID(set + "-uid")},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To(want)},
			Status: appsv1.StatefulSetStatus{Replicas: want, ReadyReplicas: want, CurrentRevision: "r1", CurrentReplicas: want,
				UpdateRevision: "r1", UpdatedReplicas: want},
		}
		for i := int32(0); i < want; i++ {
			pod := fmt.Sprintf("%s-%d", set, i)
			o.Pods = append(o.Pods, newPod(e, name, pod, "r1"))
			o.Nodes = append(o.Nodes, node(pod, name, "running"))
		}
		return s
	}
	o.CoreSet = role(v2beta1.RoleCore, e.CoreWorkloadName(), e.CoreReplicas())
	if e.ReplicantReplicas() > 0 {
		o.ReplicantSet = role(v2beta1.RoleReplicant, e.ReplicantWorkloadName(), e.ReplicantReplicas())
	}
	return o
}

func newPod(e *v2beta1.EMQX, role, name, revision string) corev1.Pod {
	labels := e.RoleSelectorLabels(role)
	labels[appsv1.ControllerRevisionHashLabelKey] = revision
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func node(pod, role, status string) emqxapi.Node {
	return emqxapi.Node{Node: n(pod), NodeStatus: status, Role: role, Version: "5.8.6", Edition: "Enterprise",
		OTPRelease: "26.2.5-3/14.2.5", Connections: 10, LiveConnections: 9}
}

// fixture is the input of one Compute call: by default a healthy cluster on its first status
// (no previous status) and a pass that applied everything and found nothing wrong.
type fixture struct {
	e    *v2beta1.EMQX
	prev v2beta1.EMQXStatus
	o    *Observed
	p    Reports
}

func newFixture(cores, replicants int32) *fixture {
	e := newEMQX(cores, replicants)
	return &fixture{e: e, o: healthy(e), p: Reports{Apply: ApplyReport{Applied: true}, Config: ConfigReport{AppliedRevision: "rev-1"}}}
}

func (f *fixture) compute() v2beta1.EMQXStatus { return Compute(f.e, f.prev, f.o, f.p) }

// nodeOf is the EMQX node of a pod.
func (f *fixture) nodeOf(pod string) *emqxapi.Node {
	for i := range f.o.Nodes {
		if f.o.Nodes[i].Node == n(pod) {
			return &f.o.Nodes[i]
		}
	}
	panic("no node of " + pod)
}

func (f *fixture) podOf(name string) *corev1.Pod {
	for i := range f.o.Pods {
		if f.o.Pods[i].Name == name {
			return &f.o.Pods[i]
		}
	}
	panic("no pod " + name)
}

// gone removes pods and their nodes, as if the StatefulSet had not created them yet.
func (f *fixture) gone(pods ...string) {
	f.o.Pods = slices.DeleteFunc(f.o.Pods, func(p corev1.Pod) bool { return slices.Contains(pods, p.Name) })
	f.o.Nodes = slices.DeleteFunc(f.o.Nodes, func(x emqxapi.Node) bool { return slices.Contains(pods, f.e.PodOfNode(x.Node)) })
}

// notJoined: the pod exists but is not Ready, and EMQX does not list its node.
func (f *fixture) notJoined(pod string) {
	f.podOf(pod).Status.Conditions[0].Status = corev1.ConditionFalse
	f.o.Nodes = slices.DeleteFunc(f.o.Nodes, func(x emqxapi.Node) bool { return x.Node == n(pod) })
}

// departed: EMQX still lists a node whose pod is gone (a scale-in before force_leave).
func (f *fixture) departed(pod, status string) {
	f.o.Nodes = append(f.o.Nodes, node(pod, v2beta1.RoleCore, status))
}

func (f *fixture) noReplicantsYet() {
	f.o.ReplicantSet = nil
	f.gone("c-replicant-0", "c-replicant-1")
}

const (
	importing    = "importing backup b1"
	restoreWait  = "waiting for the restore of spec.restoreFrom: "
	evacuating   = "evacuating emqx@c-core-3.c-headless.ns.svc.cluster.local: 4 of 10 connections left"
	invalidHOCON = "spec.config.data is not valid HOCON: missing comma"
	podSecurity  = `pods of StatefulSet c-core violate PodSecurity "restricted:latest": privileged`
	applyErr     = "applying StatefulSet c-core: Operation cannot be fulfilled: the object has been modified"
	readyMsg     = "every node has joined the cluster and is running"
)

// restoring: spec.restoreFrom names backup b1 and its restore is running.
func (f *fixture) restoring() {
	f.e.Spec.RestoreFrom = &v2beta1.RestoreFrom{BackupName: "b1"}
	f.p.Restore.Saw(v2beta1.RestoreStatus{Name: "c-restore", Phase: v2beta1.BackupRunning}, importing)
}

func (f *fixture) configError() { f.p.Spec.Reason, f.p.Spec.Message = "InvalidConfig", invalidHOCON }
func (f *fixture) podsRefused() {
	f.p.Admission.Reason, f.p.Admission.Message = "PodSecurity", podSecurity
}
func (f *fixture) applyFailed() { f.p.Apply.Applied, f.p.Apply.Error = false, applyErr }
func (f *fixture) busy(role string) {
	f.p.Progress.Busy, f.p.Progress.Role, f.p.Progress.Reason, f.p.Progress.Message = true, role, "ScalingIn", evacuating
}

// everythingWrong sets a problem of every kind the Ready reason ranks; a row removes the ones
// that outrank the one it covers, so a change of the order fails that row.
func (f *fixture) everythingWrong() {
	f.configError()
	f.podsRefused()
	f.p.Paused = true
	f.applyFailed()
	f.busy(v2beta1.RoleCore)
	f.restoring()
	f.departed("c-core-3", "stopped")
}

func (f *fixture) withLicense() {
	f.e.Spec.License = &v2beta1.License{SecretRef: v2beta1.KeyRef{SecretName: "lic", SecretKey: "key"}}
	f.e.Default()
}

func (f *fixture) withTLS() { f.e.Spec.TLS = &v2beta1.TLS{SecretName: "mqtt-tls"} }

// settled is the status an earlier pass wrote for the converged 3+2 cluster: every condition
// last changed at t0, for the previous generation.
func settled() v2beta1.EMQXStatus {
	s := newFixture(3, 2).compute()
	s.ObservedGeneration = prevGeneration
	for i := range s.Conditions {
		s.Conditions[i].LastTransitionTime, s.Conditions[i].ObservedGeneration = t0, prevGeneration
	}
	return s
}

// was is a condition of the previous status.
func was(typ string, st metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, LastTransitionTime: t0, ObservedGeneration: prevGeneration}
}

// cond is a condition a row expects, compared exactly.
type cond struct {
	typ     string
	status  metav1.ConditionStatus
	reason  string
	message string
}

// healthyConds are the conditions of a converged cluster of 3 cores and 2 replicants.
var healthyConds = []cond{
	{v2beta1.Initialized, T, "Applied", "every object of the cluster has been applied"},
	{v2beta1.ConfigValid, T, "Valid", "the spec passed the operator's checks"},
	{v2beta1.PodsAdmitted, T, "Admitted", "the API server accepts the cluster's pods"},
	{v2beta1.CoreNodesProgressing, F, "Done", "3 core nodes up to date"},
	{v2beta1.CoreNodesReady, T, "AllJoined", "3 of 3 core nodes running in the cluster"},
	{v2beta1.ReplicantNodesProgressing, F, "Done", "2 replicant nodes up to date"},
	{v2beta1.ReplicantNodesReady, T, "AllJoined", "2 of 2 replicant nodes running in the cluster"},
	{v2beta1.Available, T, "NodesRunning", "5 EMQX node(s) running"},
	{v2beta1.Paused, F, "NotPaused", "changes are applied"},
	{v2beta1.Ready, T, "ClusterReady", readyMsg},
}

// dsStable is one DB of 16 shards with 3 replicas each, nothing moving.
var dsStable = []v2beta1.DSDBReplicationStatus{{Name: "messages", NumShards: 16, NumShardReplicas: 48, MinReplicas: 3, MaxReplicas: 3}}

func TestCompute(t *testing.T) {
	errRefused := errors.New("dial tcp 10.0.0.1:18083: connect: connection refused")
	licence := &v2beta1.LicenseStatus{Type: "official", Customer: "ACME", MaxSessions: 10000, ExpiryAt: "2027-01-01"}
	oldLicence := &v2beta1.LicenseStatus{Type: "trial", Customer: "ACME", MaxSessions: 100, ExpiryAt: "2026-01-01", Expired: true}
	cert := &v2beta1.TLSStatus{Fingerprint: "aa11", SerialNumber: "1f", NodesServing: "5/5"}
	oldCert := &v2beta1.TLSStatus{Fingerprint: "bb22", SerialNumber: "2e", NodesServing: "5/5"}

	rows := []struct {
		name              string
		cores, replicants int32
		setup             func(f *fixture)
		phase, readyNodes string
		conds             []cond
		absent            []string
		check             func(t *testing.T, f *fixture, s v2beta1.EMQXStatus)
	}{
		// A pass that could not read the cluster's objects changes nothing but Ready, whatever
		// else it found wrong.
		{
			name: "Ready: workloads not read is Unknown, and everything else is the previous status", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev = settled()
				f.everythingWrong()
				f.o.ReadErr = errors.New("timed out waiting for cache to be synced")
			},
			// readyNodes is the last count seen; the phase says it is not known now.
			phase: "Unknown", readyNodes: "5/5",
			conds: append(slices.Clone(healthyConds[:len(healthyConds)-1]),
				cond{v2beta1.Ready, metav1.ConditionUnknown, ReasonCacheReadFailed,
					"the operator could not read the cluster's workloads and pods: timed out waiting for cache to be synced"}),
			absent: []string{v2beta1.DataRestored},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				for _, c := range s.Conditions {
					if c.Type != v2beta1.Ready {
						keptFromPrev(t, s, c.Type)
					} else if c.LastTransitionTime.Equal(&t0) || c.ObservedGeneration != generation {
						t.Errorf("Ready = %+v, want a new transition at generation %d", c, generation)
					}
				}
				if s.ObservedGeneration != prevGeneration || s.AppliedConfigRevision != "rev-1" || len(s.CoreNodes) != 3 {
					t.Errorf("observedGeneration %d, appliedConfigRevision %q, %d core nodes: want the previous status's",
						s.ObservedGeneration, s.AppliedConfigRevision, len(s.CoreNodes))
				}
			},
		},
		{
			name: "Ready: no observation at all is Unknown too", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.prev = settled(); f.o = nil },
			phase: "Unknown", readyNodes: "5/5",
			conds: []cond{{v2beta1.Ready, metav1.ConditionUnknown, ReasonCacheReadFailed,
				"the operator could not read the cluster's workloads and pods"}},
		},

		// Ready's reason: the first problem in Compute's order, each row with every problem
		// ranked below its own.
		{
			name: "Ready: a spec error outranks every other problem", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.everythingWrong() },
			phase: "Paused", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.Initialized, F, "NotApplied", applyErr},
				{v2beta1.ConfigValid, F, "InvalidConfig", invalidHOCON},
				{v2beta1.PodsAdmitted, F, "PodSecurity", podSecurity},
				{v2beta1.CoreNodesProgressing, T, "ScalingIn", evacuating},
				{v2beta1.DataRestored, F, v2beta1.BackupRunning, importing},
				{v2beta1.Paused, T, "PauseAnnotation", "the apps.emqx.io/paused annotation holds every change back; remove it to resume"},
				{v2beta1.Ready, F, "InvalidConfig", invalidHOCON},
			},
		},
		{
			name: "Ready: refused pods come next", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.everythingWrong(); f.p.Spec.Reason = "" },
			phase: "Paused", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.ConfigValid, T, "Valid", "the spec passed the operator's checks"},
				{v2beta1.PodsAdmitted, F, "PodSecurity", podSecurity},
				{v2beta1.Ready, F, "PodSecurity", podSecurity},
			},
		},
		{
			name: "Ready: the pause comes next", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.everythingWrong(); f.p.Spec.Reason, f.p.Admission.Reason = "", "" },
			phase: "Paused", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.PodsAdmitted, T, "Admitted", "the API server accepts the cluster's pods"},
				{v2beta1.Paused, T, "PauseAnnotation", "the apps.emqx.io/paused annotation holds every change back; remove it to resume"},
				{v2beta1.Ready, F, "Paused", "changes are held back by the apps.emqx.io/paused annotation"},
			},
		},
		{
			name: "Ready: a failed apply comes next", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.everythingWrong()
				f.p.Spec.Reason, f.p.Admission.Reason, f.p.Paused = "", "", false
			},
			phase: "Progressing", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.Initialized, F, "NotApplied", applyErr},
				{v2beta1.Paused, F, "NotPaused", "changes are applied"},
				{v2beta1.Ready, F, "ApplyFailed", applyErr},
			},
		},
		{
			name: "Ready: a busy lifecycle with every node joined says what it does", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.everythingWrong()
				f.p.Spec.Reason, f.p.Admission.Reason, f.p.Paused, f.p.Apply.Applied, f.p.Apply.Error = "", "", false, true, ""
			},
			phase: "Progressing", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.Initialized, T, "Applied", "every object of the cluster has been applied"},
				{v2beta1.CoreNodesProgressing, T, "ScalingIn", evacuating},
				{v2beta1.CoreNodesReady, T, "AllJoined", "3 of 3 core nodes running in the cluster"},
				{v2beta1.Ready, F, "ScalingIn", evacuating},
			},
		},
		{
			name: "Ready: a busy lifecycle with a node not joined is NodesNotReady", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.busy(v2beta1.RoleCore)
				f.p.Progress.Reason, f.p.Progress.Message = "Updating", "replacing pod c-core-2"
				f.notJoined("c-core-2")
			},
			phase: "Progressing", readyNodes: "4/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "Updating", "replacing pod c-core-2"},
				{v2beta1.CoreNodesReady, F, "NotAllJoined", "2 of 3 core nodes running in the cluster"},
				{v2beta1.Available, T, "NodesRunning", "4 EMQX node(s) running"},
				{v2beta1.Ready, F, "NodesNotReady", "4 of 5 nodes running in the cluster; not in the cluster: " + n("c-core-2")},
			},
		},
		{
			name: "Ready: a restore under way on a ready cluster is RestoringData", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.restoring() },
			// Suspected: a first restore, running as it should, shows as Degraded in kubectl get.
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.CoreNodesReady, T, "AllJoined", "3 of 3 core nodes running in the cluster"},
				{v2beta1.DataRestored, F, v2beta1.BackupRunning, importing},
				{v2beta1.Ready, F, "RestoringData", restoreWait + importing},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.Restore == nil || *s.Restore != *f.p.Restore.Status {
					t.Errorf("status.restore = %+v, want %+v", s.Restore, f.p.Restore.Status)
				}
			},
		},
		{
			name: "Ready: a restore that failed in this pass is RestoreFailed", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.restoring()
				f.p.Restore.Status.Phase = v2beta1.BackupFailed
				f.p.Restore.Message = "EMQXRestore c-restore was deleted before it finished; the operator does not import twice"
			},
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.DataRestored, F, v2beta1.BackupFailed, "EMQXRestore c-restore was deleted before it finished; the operator does not import twice"},
				{v2beta1.Ready, F, "RestoreFailed", restoreWait + "EMQXRestore c-restore was deleted before it finished; the operator does not import twice"},
			},
		},
		{
			name: "Ready: a restore that failed before (final, not looked at again) is RestoreFailed", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.e.Spec.RestoreFrom = &v2beta1.RestoreFrom{BackupName: "b1"}
				f.prev.Restore = &v2beta1.RestoreStatus{Name: "c-restore", Phase: v2beta1.BackupFailed}
				f.prev.Conditions = []metav1.Condition{was(v2beta1.DataRestored, F, v2beta1.BackupFailed, "import failed: bad backup")}
			},
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.DataRestored, F, v2beta1.BackupFailed, "import failed: bad backup"},
				{v2beta1.Ready, F, "RestoreFailed", restoreWait + "import failed: bad backup"},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				keptFromPrev(t, s, v2beta1.DataRestored)
				if s.Restore != f.prev.Restore {
					t.Errorf("status.restore = %+v, want the previous one", s.Restore)
				}
			},
		},
		{
			name: "Ready: a restore not created yet is RestoringData with the condition's message", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.e.Spec.RestoreFrom = &v2beta1.RestoreFrom{BackupName: "b1"} },
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.DataRestored, F, "Pending", "the restore of backup b1 has not been created yet"},
				{v2beta1.Ready, F, "RestoringData", restoreWait + "the restore of backup b1 has not been created yet"},
			},
		},
		{
			name: "Ready: a restore does not hide nodes that are not ready", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.restoring(); f.nodeOf("c-core-2").NodeStatus = "stopped" },
			phase: "Progressing", readyNodes: "4/5",
			conds: []cond{
				{v2beta1.DataRestored, F, v2beta1.BackupRunning, importing},
				{v2beta1.Ready, F, "NodesNotReady", "4 of 5 nodes running in the cluster; stopped: " + n("c-core-2") +
					"; not in the cluster: " + n("c-core-2")},
			},
		},
		{
			name: "Ready: a restored cluster is ClusterReady", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.restoring(); f.p.Restore.Status.Phase = v2beta1.BackupSucceeded },
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.DataRestored, T, "Restored", "backup b1 imported (EMQXRestore c-restore)"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
		},
		{
			name: "Ready: nodes not ready name the stopped ones and the pods EMQX does not list", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.nodeOf("c-core-2").NodeStatus = "stopped"
				f.notJoined("c-replicant-1")
			},
			phase: "Progressing", readyNodes: "3/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "Joining", "waiting for core nodes to be ready and join the cluster"},
				{v2beta1.CoreNodesReady, F, "NotAllJoined", "2 of 3 core nodes running in the cluster"},
				{v2beta1.ReplicantNodesProgressing, T, "Joining", "waiting for replicant nodes to be ready and join the cluster"},
				{v2beta1.ReplicantNodesReady, F, "NotAllJoined", "1 of 2 replicant nodes running in the cluster"},
				{v2beta1.Available, T, "NodesRunning", "3 EMQX node(s) running"},
				{v2beta1.Ready, F, "NodesNotReady", "3 of 5 nodes running in the cluster; stopped: " + n("c-core-2") +
					"; not in the cluster: " + n("c-core-2") + ", " + n("c-replicant-1")},
			},
		},
		{
			name: "Ready: a converged cluster is ClusterReady", cores: 3, replicants: 2,
			setup: func(f *fixture) {},
			phase: "Ready", readyNodes: "5/5",
			conds:  healthyConds,
			absent: []string{v2beta1.LicenseValid, v2beta1.TLSCertificateReady, v2beta1.DataRestored},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.ObservedGeneration != generation || s.AppliedConfigRevision != "rev-1" || s.EMQXVersion != "5.8.6" {
					t.Errorf("observedGeneration %d, appliedConfigRevision %q, emqxVersion %q", s.ObservedGeneration, s.AppliedConfigRevision, s.EMQXVersion)
				}
				want := v2beta1.EMQXNodesStatus{Replicas: 3, ReadyReplicas: 3, CurrentRevision: "r1", CurrentReplicas: 3, UpdateRevision: "r1", UpdateReplicas: 3}
				if s.CoreNodesStatus != want || s.ReplicantNodesStatus.Replicas != 2 {
					t.Errorf("coreNodesStatus %+v, replicantNodesStatus %+v", s.CoreNodesStatus, s.ReplicantNodesStatus)
				}
				if want := "apps.emqx.io/db-role=replicant,apps.emqx.io/instance=c,apps.emqx.io/managed-by=emqx-operator"; s.ReplicantNodesSelector != want {
					t.Errorf("replicantNodesSelector %q, want %q", s.ReplicantNodesSelector, want)
				}
				if len(s.CoreNodes) != 3 || len(s.ReplicantNodes) != 2 {
					t.Fatalf("%d core and %d replicant nodes", len(s.CoreNodes), len(s.ReplicantNodes))
				}
				got := s.ReplicantNodes[1]
				wantNode := v2beta1.EMQXNode{Node: n("c-replicant-1"), NodeStatus: "running", OTPRelease: "26.2.5-3/14.2.5", Version: "5.8.6",
					Role: "replicant", Edition: "Enterprise", Connections: 10, LiveConnections: 9, PodUID: "c-replicant-1-uid", ControllerUID: "c-replicant-uid"}
				if got != wantNode {
					t.Errorf("replicant node %+v, want %+v", got, wantNode)
				}
			},
		},

		// Phase: Paused, ConfigError, PodsRefused, Ready, Progressing, Degraded, in that order.
		{
			name: "Phase: a config error without the pause is ConfigError, and outranks refused pods", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.configError(); f.podsRefused() },
			phase: "ConfigError", readyNodes: "5/5",
			conds: []cond{{v2beta1.Ready, F, "InvalidConfig", invalidHOCON}},
		},
		{
			name: "Phase: refused pods are PodsRefused", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.podsRefused() },
			phase: "PodsRefused", readyNodes: "5/5",
			conds: []cond{{v2beta1.Ready, F, "PodSecurity", podSecurity}},
		},
		{
			name: "Phase: Ready outranks Progressing (pods on an older revision, lifecycle idle)", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.o.CoreSet.Status.UpdateRevision = "r2" },
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "Updating", "3 core pods run an older revision"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
		},
		{
			name: "Phase: a role scaling out is Progressing", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.gone("c-core-2") },
			phase: "Progressing", readyNodes: "4/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "ScalingOut", "2 of 3 core pods exist"},
				{v2beta1.CoreNodesReady, F, "NotAllJoined", "2 of 3 core nodes running in the cluster"},
				{v2beta1.Ready, F, "NodesNotReady", "4 of 5 nodes running in the cluster"},
			},
		},
		{
			name: "Phase: not Ready with nothing progressing is Degraded (a departed node still listed)", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.departed("c-core-3", "stopped") },
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, F, "Done", "3 core nodes up to date"},
				{v2beta1.CoreNodesReady, T, "AllJoined", "3 of 3 core nodes running in the cluster"},
				{v2beta1.Ready, F, "NodesNotReady", "5 of 5 nodes running in the cluster; stopped: " + n("c-core-3")},
			},
		},
		{
			name: "Phase: a failed apply on a healthy cluster is Degraded", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.applyFailed() },
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.Initialized, F, "NotApplied", applyErr},
				{v2beta1.Ready, F, "ApplyFailed", applyErr},
			},
		},

		// ReadyNodes: running nodes EMQX lists / nodes wanted.
		{
			name: "ReadyNodes: a running node beyond the wanted ones is counted, and not Ready", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.departed("c-core-3", "running") },
			phase: "Degraded", readyNodes: "6/5",
			conds: []cond{
				{v2beta1.Available, T, "NodesRunning", "6 EMQX node(s) running"},
				{v2beta1.Ready, F, "NodesNotReady", "6 of 5 nodes running in the cluster"},
			},
		},

		// Core progress: what the workload shows, unless the lifecycle says more.
		{
			name: "CoreNodesProgressing: Creating before the core StatefulSet exists", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.o = &Observed{} },
			phase: "Progressing", readyNodes: "0/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "Creating", "the core StatefulSet is being created"},
				{v2beta1.CoreNodesReady, F, "NotAllJoined", "0 of 3 core nodes running in the cluster"},
				{v2beta1.ReplicantNodesProgressing, T, "WaitingForCores", "replicants start once every core node has joined"},
				{v2beta1.Available, F, "NoNodeRunning", "0 EMQX node(s) running"},
				{v2beta1.Ready, F, "NodesNotReady", "0 of 5 nodes running in the cluster"},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.CoreNodesStatus != (v2beta1.EMQXNodesStatus{}) || s.CoreNodes != nil || s.EMQXVersion != "" {
					t.Errorf("coreNodesStatus %+v, coreNodes %v, emqxVersion %q", s.CoreNodesStatus, s.CoreNodes, s.EMQXVersion)
				}
			},
		},
		{
			name: "CoreNodesProgressing: ScalingIn while more pods exist than wanted", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.e.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](2) },
			phase: "Progressing", readyNodes: "5/4",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "ScalingIn", "3 core pods exist, 2 wanted"},
				{v2beta1.CoreNodesReady, F, "NotAllJoined", "3 of 2 core nodes running in the cluster"},
				{v2beta1.Ready, F, "NodesNotReady", "5 of 4 nodes running in the cluster"},
			},
		},
		{
			name: "CoreNodesProgressing: the lifecycle's reason without a role is the cores'", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.p.Progress.Reason, f.p.Progress.Message = "EMQXUnreachable", "no core answers; nothing risky is done"
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "EMQXUnreachable", "no core answers; nothing risky is done"},
				{v2beta1.ReplicantNodesProgressing, F, "Done", "2 replicant nodes up to date"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
		},

		// Replicants.
		{
			name: "Replicants: the lifecycle's replicant reason is the replicants', not the cores'", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.busy(v2beta1.RoleReplicant) },
			phase: "Progressing", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, F, "Done", "3 core nodes up to date"},
				{v2beta1.ReplicantNodesProgressing, T, "ScalingIn", evacuating},
				{v2beta1.Ready, F, "ScalingIn", evacuating},
			},
		},
		{
			name: "Replicants: none wanted is NoReplicants", cores: 3, replicants: 0,
			setup: func(f *fixture) {},
			phase: "Ready", readyNodes: "3/3",
			conds: []cond{
				{v2beta1.ReplicantNodesProgressing, F, "NoReplicants", "the cluster has no replicant nodes"},
				{v2beta1.ReplicantNodesReady, T, "NoReplicants", "the cluster has no replicant nodes"},
				{v2beta1.Available, T, "NodesRunning", "3 EMQX node(s) running"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.ReplicantNodesSelector != "" || s.ReplicantNodes != nil {
					t.Errorf("replicantNodesSelector %q, replicantNodes %v", s.ReplicantNodesSelector, s.ReplicantNodes)
				}
			},
		},
		{
			name: "Replicants: a template with 0 replicas is NoReplicants, with a selector for scaling", cores: 3, replicants: 0,
			setup: func(f *fixture) {
				f.e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To[int32](0)}}
			},
			phase: "Ready", readyNodes: "3/3",
			conds: []cond{
				{v2beta1.ReplicantNodesReady, T, "NoReplicants", "the cluster has no replicant nodes"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.ReplicantNodesSelector == "" {
					t.Error("no replicantNodesSelector")
				}
			},
		},
		{
			name: "Replicants: without their StatefulSet they wait for the cores", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.noReplicantsYet() },
			phase: "Progressing", readyNodes: "3/5",
			conds: []cond{
				{v2beta1.CoreNodesReady, T, "AllJoined", "3 of 3 core nodes running in the cluster"},
				{v2beta1.ReplicantNodesProgressing, T, "WaitingForCores", "replicants start once every core node has joined"},
				{v2beta1.ReplicantNodesReady, F, "WaitingForCores", "replicants start once every core node has joined"},
				{v2beta1.Ready, F, "NodesNotReady", "3 of 5 nodes running in the cluster"},
			},
		},
		{
			// Suspected bug: with 0 replicants wanted, the replicant conditions say NoReplicants
			// even while the lifecycle is still evacuating the last ones, and nothing is progressing.
			name: "Replicants: a scale-in to 0 under way is NoReplicants and Degraded", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.e.Spec.ReplicantTemplate.Spec.Replicas = ptr.To[int32](0)
				f.busy(v2beta1.RoleReplicant)
			},
			phase: "Degraded", readyNodes: "5/3",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, F, "Done", "3 core nodes up to date"},
				{v2beta1.ReplicantNodesProgressing, F, "NoReplicants", "the cluster has no replicant nodes"},
				{v2beta1.ReplicantNodesReady, T, "NoReplicants", "the cluster has no replicant nodes"},
				{v2beta1.Ready, F, "ScalingIn", evacuating},
			},
		},

		// Available.
		{
			name: "Available: no answer from EMQX is NoNodeRunning with the API error", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.o.Nodes, f.o.NodesErr = nil, errRefused },
			phase: "Progressing", readyNodes: "0/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "Joining", "waiting for core nodes to be ready and join the cluster"},
				{v2beta1.CoreNodesReady, F, "NotAllJoined", "0 of 3 core nodes running in the cluster"},
				{v2beta1.Available, F, "NoNodeRunning", "EMQX API: " + errRefused.Error()},
				// No "not in the cluster" list: EMQX was not asked.
				{v2beta1.Ready, F, "NodesNotReady", "0 of 5 nodes running in the cluster"},
			},
		},
		{
			// Suspected bug: nodes were read but the evacuations were not (NodesErr set, Nodes kept):
			// Available is True with an error message and Ready says "5 of 5 nodes running" but False.
			name: "Available: nodes read, evacuations not, is NodesRunning with the API error", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.o.NodesErr = errors.New("reading evacuations: 503 Service Unavailable") },
			phase: "Progressing", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.CoreNodesProgressing, T, "Joining", "waiting for core nodes to be ready and join the cluster"},
				{v2beta1.CoreNodesReady, F, "NotAllJoined", "3 of 3 core nodes running in the cluster"},
				{v2beta1.Available, T, "NodesRunning", "EMQX API: reading evacuations: 503 Service Unavailable"},
				{v2beta1.Ready, F, "NodesNotReady", "5 of 5 nodes running in the cluster"},
			},
		},

		// LicenseValid: only with a licence the user gave (spec.license, config.data, env); without an
		// observation the previous status stands.
		{
			name: "Licence: without a licence given there is no condition, and status.license stays", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev.License = oldLicence
				f.prev.Conditions = []metav1.Condition{was(v2beta1.LicenseValid, F, "LicenseExpired", "the licence expired on 2026-01-01")}
				f.p.License.Reason = "LicenseExpired" // ignored without spec.license
			},
			phase: "Ready", readyNodes: "5/5",
			absent: []string{v2beta1.LicenseValid},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.License != oldLicence {
					t.Errorf("status.license = %+v, want the previous one", s.License)
				}
			},
		},
		{
			name: "Licence: a refused or expired licence is False, and does not stop Ready", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withLicense()
				f.p.License.Observed, f.p.License.Running = true, licence
				f.p.License.Reason, f.p.License.Message = "LicenseRejected", "EMQX refused the key: bad signature"
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.LicenseValid, F, "LicenseRejected", "EMQX refused the key: bad signature"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
		},
		{
			name: "Licence: a problem outranks a notice", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withLicense()
				f.p.License.Observed = true
				f.p.License.Reason, f.p.License.OKReason, f.p.License.Message = "LicenseExpired", "ExpiringSoon", "the licence expired on 2026-01-01"
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.LicenseValid, F, "LicenseExpired", "the licence expired on 2026-01-01"}},
		},
		{
			name: "Licence: a notice is True with its reason", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withLicense()
				f.p.License.Observed = true
				f.p.License.OKReason, f.p.License.Message = "ExpiringSoon", "the licence expires on 2027-01-01, in 12 days (warning at 30 days)"
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.LicenseValid, T, "ExpiringSoon", "the licence expires on 2027-01-01, in 12 days (warning at 30 days)"}},
		},
		{
			name: "Licence: observed and nothing to say is Valid, and the running licence is in status", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withLicense()
				f.prev.License = oldLicence
				f.p.License.Observed, f.p.License.Running = true, licence
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.LicenseValid, T, "Valid", "the licence from spec.license is in use"}},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.License != licence {
					t.Errorf("status.license = %+v, want this pass's", s.License)
				}
			},
		},
		{
			name: "Licence: not observed keeps the previous condition and licence", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withLicense()
				f.prev.License = oldLicence
				f.prev.Conditions = []metav1.Condition{was(v2beta1.LicenseValid, F, "LicenseExpired", "the licence expired on 2026-01-01")}
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.LicenseValid, F, "LicenseExpired", "the licence expired on 2026-01-01"}},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				keptFromPrev(t, s, v2beta1.LicenseValid)
				if s.License != oldLicence {
					t.Errorf("status.license = %+v, want the previous one", s.License)
				}
			},
		},
		{
			name: "Licence: a licence in config.data (license.key) is judged and named", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.e.Spec.Config.Data = "license.key = \"abc\"\n"
				f.p.License.Observed, f.p.License.Running = true, licence
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.LicenseValid, T, "Valid", "the licence from spec.config.data (license.key) is in use"}},
		},
		{
			name: "Licence: a licence in config.data that expires soon warns", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.e.Spec.Config.Data = "license { key = \"abc\" }\n"
				f.p.License.Observed = true
				f.p.License.OKReason, f.p.License.Message = "ExpiringSoon", "the licence expires on 2026-12-10, in 5 days (warning at 30 days)"
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.LicenseValid, T, "ExpiringSoon", "the licence expires on 2026-12-10, in 5 days (warning at 30 days)"}},
		},
		{
			name: "Licence: a licence in the core env is judged and named", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.e.Spec.CoreTemplate.Spec.Env = []corev1.EnvVar{{Name: "EMQX_LICENSE__KEY", Value: "abc"}}
				f.p.License.Observed, f.p.License.Running = true, licence
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.LicenseValid, T, "Valid", "the licence from the EMQX_LICENSE__KEY environment variable is in use"}},
		},
		{
			name: "Licence: a cluster refused for a single-node licence says so in LicenseValid too", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.p.Spec.Reason, f.p.Spec.Message = "SingleNodeLicense", "EMQX 6.1.0 clusters more than one node only with a licence for clustering"
			},
			phase: "ConfigError", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.LicenseValid, F, "SingleNodeLicense", "EMQX 6.1.0 clusters more than one node only with a licence for clustering"},
				{v2beta1.Ready, F, "SingleNodeLicense", "EMQX 6.1.0 clusters more than one node only with a licence for clustering"},
			},
		},
		{
			name: "Licence: never observed has no condition", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.withLicense() },
			phase: "Ready", readyNodes: "5/5",
			absent: []string{v2beta1.LicenseValid},
		},

		// DSReplicationReady and status.dsReplication: only with durable storage in use; a pass that
		// did not read DS keeps both; replicas short or moving keep the cluster from Ready.
		{
			name: "DS: without durable storage there is no condition and no status.dsReplication", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev.DSReplication = &v2beta1.DSReplicationStatus{DBs: dsStable}
				f.prev.Conditions = []metav1.Condition{was(v2beta1.DSReplicationReady, T, "Replicated", "1 DBs replicated on 3 core sites")}
				f.p.DS.Observed = true
			},
			phase: "Ready", readyNodes: "5/5",
			absent: []string{v2beta1.DSReplicationReady},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.DSReplication != nil {
					t.Errorf("status.dsReplication = %+v, want none", s.DSReplication)
				}
			},
		},
		{
			name: "DS: replicated is True and the cluster Ready, with the vendor's summary", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.p.DS = DSReport{Observed: true, InUse: true, DBs: dsStable, Ready: true, Reason: "Replicated", Message: "1 DBs replicated on 3 core sites"}
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.DSReplicationReady, T, "Replicated", "1 DBs replicated on 3 core sites"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.DSReplication == nil || len(s.DSReplication.DBs) != 1 || s.DSReplication.DBs[0].NumShardReplicas != 48 {
					t.Errorf("status.dsReplication = %+v", s.DSReplication)
				}
			},
		},
		{
			name: "DS: replicas moving keep the cluster from Ready, and it is Progressing", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.p.DS = DSReport{Observed: true, InUse: true, DBs: dsStable, Reason: "ReplicasMoving",
					Message: "DB messages: 8 replica transitions running over 16 shards"}
			},
			phase: "Progressing", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.DSReplicationReady, F, "ReplicasMoving", "DB messages: 8 replica transitions running over 16 shards"},
				{v2beta1.Ready, F, "ReplicasMoving", "durable storage: DB messages: 8 replica transitions running over 16 shards"},
			},
		},
		{
			name: "DS: lost replicas keep the cluster from Ready, and it is Degraded", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.p.DS = DSReport{Observed: true, InUse: true, DBs: dsStable, Reason: "LostReplicas", Message: "DB messages: 16 of 48 shard replicas are on lost sites"}
			},
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{{v2beta1.Ready, F, "LostReplicas", "durable storage: DB messages: 16 of 48 shard replicas are on lost sites"}},
		},
		{
			name: "DS: a scale-in waiting for the user's annotation is not Progressing on DS's account", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.p.DS = DSReport{Observed: true, InUse: true, DBs: dsStable, Reason: "ScaleInBelowReplicationFactor", Message: "scaling cores in to 2 would leave fewer than the replication factor 3"}
			},
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{{v2beta1.Ready, F, "ScaleInBelowReplicationFactor", "durable storage: scaling cores in to 2 would leave fewer than the replication factor 3"}},
		},
		{
			name: "DS: nodes not ready outrank durable storage", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.departed("c-core-3", "stopped")
				f.p.DS = DSReport{Observed: true, InUse: true, DBs: dsStable, Reason: "LostReplicas", Message: "DB messages: 16 of 48 shard replicas are on lost sites"}
			},
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{{v2beta1.DSReplicationReady, F, "LostReplicas", "DB messages: 16 of 48 shard replicas are on lost sites"}},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if c := meta.FindStatusCondition(s.Conditions, v2beta1.Ready); c == nil || c.Reason != "NodesNotReady" {
					t.Errorf("Ready = %+v, want NodesNotReady", c)
				}
			},
		},
		{
			name: "DS: not read this pass keeps the condition and summary, a False one keeps Ready False, and moving stays Progressing", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev.DSReplication = &v2beta1.DSReplicationStatus{DBs: dsStable}
				f.prev.Conditions = []metav1.Condition{was(v2beta1.DSReplicationReady, F, "ReplicasMoving", "DB messages: 2 replica transitions running over 16 shards")}
			},
			phase: "Progressing", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.DSReplicationReady, F, "ReplicasMoving", "DB messages: 2 replica transitions running over 16 shards"},
				{v2beta1.Ready, F, "ReplicasMoving", "durable storage: DB messages: 2 replica transitions running over 16 shards"},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				keptFromPrev(t, s, v2beta1.DSReplicationReady)
				if s.DSReplication != f.prev.DSReplication {
					t.Errorf("status.dsReplication = %+v, want the previous one", s.DSReplication)
				}
			},
		},

		// TLSCertificateReady: an observed report sets it (OK or not, with its reason); one not observed leaves the
		// previous status.
		{
			name: "TLS: without spec.tls there is no condition and no status.tls", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev.TLS = oldCert
				f.prev.Conditions = []metav1.Condition{was(v2beta1.TLSCertificateReady, T, "CertificateServed", "every node serves certificate bb22")}
			},
			phase: "Ready", readyNodes: "5/5",
			absent: []string{v2beta1.TLSCertificateReady},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.TLS != nil {
					t.Errorf("status.tls = %+v", s.TLS)
				}
			},
		},
		{
			name: "TLS: observed OK with its reason is True", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withTLS()
				f.prev.TLS = oldCert
				f.p.TLS.Served = cert
				f.p.TLS.Saw(true, "CertificateServed", "every node serves certificate aa11")
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.TLSCertificateReady, T, "CertificateServed", "every node serves certificate aa11"}},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.TLS != cert {
					t.Errorf("status.tls = %+v, want this pass's", s.TLS)
				}
			},
		},
		{
			name: "TLS: observed not OK is False, and does not stop Ready", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withTLS()
				f.prev.Conditions = []metav1.Condition{was(v2beta1.TLSCertificateReady, T, "CertificateServed", "every node serves certificate bb22")}
				f.p.TLS.Served, f.p.TLS.Rotating = cert, true
				f.p.TLS.Saw(false, "CertificateRotating", "3/5 nodes serve certificate aa11")
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.TLSCertificateReady, F, "CertificateRotating", "3/5 nodes serve certificate aa11"},
				{v2beta1.Ready, T, "ClusterReady", readyMsg},
			},
		},
		{
			name: "TLS: a report not observed keeps the previous condition and status.tls", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.withTLS()
				f.prev.TLS = oldCert
				f.prev.Conditions = []metav1.Condition{was(v2beta1.TLSCertificateReady, T, "CertificateServed", "every node serves certificate bb22")}
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.TLSCertificateReady, T, "CertificateServed", "every node serves certificate bb22"}},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				keptFromPrev(t, s, v2beta1.TLSCertificateReady)
				if s.TLS != oldCert {
					t.Errorf("status.tls = %+v, want the previous one", s.TLS)
				}
			},
		},
		{
			name: "TLS: neither, and never looked at, is Pending", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.withTLS() },
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.TLSCertificateReady, F, "Pending", "no certificate has been rolled out yet"}},
		},
		{
			name: "TLS: OK on a report not observed is not read (Pending)", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.withTLS(); f.p.TLS.OK = true },
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{v2beta1.TLSCertificateReady, F, "Pending", "no certificate has been rolled out yet"}},
		},

		// Initialized: set once, by the first successful apply.
		{
			name: "Initialized: a pass that stopped before applying waits for the first apply", cores: 3, replicants: 2,
			setup: func(f *fixture) { f.configError(); f.p.Apply.Applied = false },
			phase: "ConfigError", readyNodes: "5/5",
			conds: []cond{{v2beta1.Initialized, F, "NotApplied", "waiting for the first successful apply"}},
		},
		{
			name: "Initialized: a failed apply after a successful one keeps it True", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev.Conditions = []metav1.Condition{was(v2beta1.Initialized, T, "Applied", "every object of the cluster has been applied")}
				f.applyFailed()
			},
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{
				{v2beta1.Initialized, T, "Applied", "every object of the cluster has been applied"},
				{v2beta1.Ready, F, "ApplyFailed", applyErr},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) { keptFromPrev(t, s, v2beta1.Initialized) },
		},

		// Conditions over passes.
		{
			name: "Transition times: kept when the status is unchanged, new when it changes", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev = settled()
				f.nodeOf("c-core-2").NodeStatus = "stopped"
			},
			phase: "Progressing", readyNodes: "4/5",
			conds: []cond{
				{v2beta1.Available, T, "NodesRunning", "4 EMQX node(s) running"},
				{v2beta1.Ready, F, "NodesNotReady", "4 of 5 nodes running in the cluster; stopped: " + n("c-core-2") +
					"; not in the cluster: " + n("c-core-2")},
			},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				for _, c := range s.Conditions {
					changed := c.Type == v2beta1.Ready || c.Type == v2beta1.CoreNodesReady || c.Type == v2beta1.CoreNodesProgressing
					if changed == c.LastTransitionTime.Equal(&t0) {
						t.Errorf("%s (%s): lastTransitionTime %s, changed %v", c.Type, c.Status, c.LastTransitionTime, changed)
					}
					if c.ObservedGeneration != generation {
						t.Errorf("%s: observedGeneration %d", c.Type, c.ObservedGeneration)
					}
				}
			},
		},
		{
			name: "Conditions: in the documented order, Ready last, unknown types just before it", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev.Conditions = []metav1.Condition{
					was(v2beta1.Ready, F, "NodesNotReady", "0 of 5"), was("Custom", T, "Mine", "kept"), was(v2beta1.Available, F, "NoNodeRunning", ""),
				}
			},
			phase: "Ready", readyNodes: "5/5",
			conds: []cond{{"Custom", T, "Mine", "kept"}},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				var got []string
				for _, c := range s.Conditions {
					got = append(got, c.Type)
				}
				want := "[Initialized ConfigValid PodsAdmitted CoreNodesProgressing CoreNodesReady ReplicantNodesProgressing ReplicantNodesReady Available Paused Custom Ready]"
				if fmt.Sprint(got) != want {
					t.Errorf("order %v, want %s", got, want)
				}
			},
		},
		{
			name: "DataRestored: dropped with spec.restoreFrom, status.restore stays", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.prev.Restore = &v2beta1.RestoreStatus{Name: "c-restore", Phase: v2beta1.BackupSucceeded}
				f.prev.Conditions = []metav1.Condition{was(v2beta1.DataRestored, T, "Restored", "backup b1 imported (EMQXRestore c-restore)")}
			},
			phase: "Ready", readyNodes: "5/5",
			absent: []string{v2beta1.DataRestored},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.Restore != f.prev.Restore {
					t.Errorf("status.restore = %+v", s.Restore)
				}
			},
		},

		// Node lists and version.
		{
			name: "Nodes: sorted by name, by role, with UIDs only for the cluster's own pods", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				slices.Reverse(f.o.Nodes)
				f.o.Nodes = append(f.o.Nodes, emqxapi.Node{Node: "emqx@10.0.0.9", NodeStatus: "stopped"})
			},
			phase: "Degraded", readyNodes: "5/5",
			conds: []cond{{v2beta1.Ready, F, "NodesNotReady", "5 of 5 nodes running in the cluster; stopped: emqx@10.0.0.9"}},
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				var got []string
				for _, x := range append(s.CoreNodes, s.ReplicantNodes...) {
					got = append(got, fmt.Sprintf("%s %s/%s", x.Node, x.PodUID, x.ControllerUID))
				}
				want := []string{"emqx@10.0.0.9 /",
					n("c-core-0") + " c-core-0-uid/c-core-uid", n("c-core-1") + " c-core-1-uid/c-core-uid", n("c-core-2") + " c-core-2-uid/c-core-uid",
					n("c-replicant-0") + " c-replicant-0-uid/c-replicant-uid", n("c-replicant-1") + " c-replicant-1-uid/c-replicant-uid"}
				if !slices.Equal(got, want) {
					t.Errorf("nodes\n%v\nwant\n%v", got, want)
				}
			},
		},
		{
			name: "EMQXVersion: the lowest release, compared as versions, unparsable ones ignored", cores: 3, replicants: 2,
			setup: func(f *fixture) {
				f.nodeOf("c-core-0").Version = "5.8.10"
				f.nodeOf("c-core-1").Version = "5.9.0"
				f.nodeOf("c-core-2").Version = "unknown"
				f.nodeOf("c-replicant-0").Version = "5.8.6"
				f.nodeOf("c-replicant-1").Version = "6.0.0"
			},
			phase: "Ready", readyNodes: "5/5",
			check: func(t *testing.T, f *fixture, s v2beta1.EMQXStatus) {
				if s.EMQXVersion != "5.8.6" {
					t.Errorf("emqxVersion %q, want 5.8.6", s.EMQXVersion)
				}
			},
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			f := newFixture(r.cores, r.replicants)
			r.setup(f)
			s := f.compute()
			if s.Phase != r.phase {
				t.Errorf("phase %q, want %q", s.Phase, r.phase)
			}
			if s.ReadyNodes != r.readyNodes {
				t.Errorf("readyNodes %q, want %q", s.ReadyNodes, r.readyNodes)
			}
			for _, w := range r.conds {
				c := meta.FindStatusCondition(s.Conditions, w.typ)
				switch {
				case c == nil:
					t.Errorf("%s: missing", w.typ)
				case c.Status != w.status || c.Reason != w.reason || c.Message != w.message:
					t.Errorf("%s = %s %s %q\n  want %s %s %q", w.typ, c.Status, c.Reason, c.Message, w.status, w.reason, w.message)
				}
			}
			for _, typ := range r.absent {
				if c := meta.FindStatusCondition(s.Conditions, typ); c != nil {
					t.Errorf("%s = %+v, want none", typ, c)
				}
			}
			if r.check != nil {
				r.check(t, f, s)
			}
		})
	}
}

// keptFromPrev: the condition is the previous status's, untouched (time and generation).
func keptFromPrev(t *testing.T, s v2beta1.EMQXStatus, typ string) {
	t.Helper()
	c := meta.FindStatusCondition(s.Conditions, typ)
	if c == nil || !c.LastTransitionTime.Equal(&t0) || c.ObservedGeneration != prevGeneration {
		t.Errorf("%s = %+v, want the previous condition unchanged", typ, c)
	}
}

func TestRoleJoined(t *testing.T) {
	rows := []struct {
		name   string
		setup  func(f *fixture)
		role   string
		want   int32
		joined bool
	}{
		{"every pod Ready and its node running is joined", func(f *fixture) {}, v2beta1.RoleCore, 3, true},
		{"a pod not Ready is not joined", func(f *fixture) {
			f.podOf("c-core-1").Status.Conditions[0].Status = corev1.ConditionFalse
		}, v2beta1.RoleCore, 3, false},
		{"a pod without a Ready condition is not joined", func(f *fixture) {
			f.podOf("c-core-1").Status.Conditions = nil
		}, v2beta1.RoleCore, 3, false},
		{"a pod being deleted is not joined", func(f *fixture) {
			f.podOf("c-core-1").DeletionTimestamp = &t0
		}, v2beta1.RoleCore, 3, false},
		{"a stopped node is not joined", func(f *fixture) { f.nodeOf("c-core-1").NodeStatus = "stopped" }, v2beta1.RoleCore, 3, false},
		{"a node EMQX does not list is not joined", func(f *fixture) {
			f.o.Nodes = slices.DeleteFunc(f.o.Nodes, func(x emqxapi.Node) bool { return x.Node == n("c-core-1") })
		}, v2beta1.RoleCore, 3, false},
		{"a node running under the other role is not joined", func(f *fixture) {
			f.nodeOf("c-core-1").Role = v2beta1.RoleReplicant
		}, v2beta1.RoleCore, 3, false},
		{"a missing pod is not joined", func(f *fixture) { f.gone("c-core-2") }, v2beta1.RoleCore, 3, false},
		{"a pod more than wanted is not joined", func(f *fixture) {}, v2beta1.RoleCore, 2, false},
		{"pods of the other role do not count", func(f *fixture) {}, v2beta1.RoleReplicant, 2, true},
		{"no answer from EMQX is not joined", func(f *fixture) { f.o.NodesErr = errors.New("timeout") }, v2beta1.RoleCore, 3, false},
		{"none wanted and none there is joined, even without an answer", func(f *fixture) {
			f.noReplicantsYet()
			f.o.NodesErr = errors.New("timeout")
		}, v2beta1.RoleReplicant, 0, true},
		{"none wanted with pods left is not joined", func(f *fixture) {}, v2beta1.RoleReplicant, 0, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			f := newFixture(3, 2)
			r.setup(f)
			if got := f.o.RoleJoined(f.e, r.role, r.want); got != r.joined {
				t.Errorf("RoleJoined(%s, %d) = %v, want %v", r.role, r.want, got, r.joined)
			}
		})
	}
}

func TestAwaitingJoin(t *testing.T) {
	const within = 30 * time.Second
	rows := []struct {
		name    string
		setup   func(f *fixture)
		waiting bool
	}{
		{"every Ready pod's node running: nothing to wait for", func(f *fixture) {}, false},
		{"a core Ready for 5 s that EMQX does not list", func(f *fixture) {
			f.o.Nodes = slices.DeleteFunc(f.o.Nodes, func(x emqxapi.Node) bool { return x.Node == n("c-core-2") })
		}, true},
		{"a Ready replicant listed stopped", func(f *fixture) { f.nodeOf("c-replicant-0").NodeStatus = "stopped" }, true},
		{"Ready for longer than the join timeout: invited, no faster look", func(f *fixture) {
			f.nodeOf("c-core-2").NodeStatus = "stopped"
			f.podOf("c-core-2").Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Time.Add(-within))
		}, false},
		{"a pod not Ready yet: its Ready event wakes the reconciler", func(f *fixture) {
			f.podOf("c-core-2").Status.Conditions[0].Status = corev1.ConditionFalse
			f.nodeOf("c-core-2").NodeStatus = "stopped"
		}, false},
		{"no answer from EMQX: not polled faster", func(f *fixture) {
			f.nodeOf("c-core-2").NodeStatus = "stopped"
			f.o.NodesErr = errors.New("timeout")
		}, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			f := newFixture(3, 2)
			for i := range f.o.Pods {
				f.o.Pods[i].Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Time.Add(-5 * time.Second))
			}
			r.setup(f)
			if got := f.o.AwaitingJoin(f.e, t0.Time, within); got != r.waiting {
				t.Errorf("AwaitingJoin = %v, want %v", got, r.waiting)
			}
		})
	}
}

func TestCoresReady(t *testing.T) {
	rows := []struct {
		name  string
		setup func(f *fixture)
		ready bool
	}{
		{"every core joined is ready", func(f *fixture) {}, true},
		{"without the core StatefulSet nothing is ready", func(f *fixture) { f.o.CoreSet = nil }, false},
		{"a core not joined is not ready", func(f *fixture) { f.notJoined("c-core-0") }, false},
		{"the wanted count is the spec's", func(f *fixture) { f.e.Spec.CoreTemplate.Spec.Replicas = ptr.To[int32](4) }, false},
		{"replicants do not matter", func(f *fixture) { f.notJoined("c-replicant-0") }, true},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			f := newFixture(3, 2)
			r.setup(f)
			if got := f.o.CoresReady(f.e); got != r.ready {
				t.Errorf("CoresReady = %v, want %v", got, r.ready)
			}
		})
	}
}

func TestPodsOfRoleAndRunningNodes(t *testing.T) {
	f := newFixture(3, 2)
	unlabelled := newPod(f.e, v2beta1.RoleCore, "c-stray", "r1")
	delete(unlabelled.Labels, v2beta1.LabelDBRole)
	f.o.Pods = append(f.o.Pods, unlabelled)
	f.nodeOf("c-replicant-1").NodeStatus = "stopped"
	names := func(pods []corev1.Pod) (out []string) {
		for _, p := range pods {
			out = append(out, p.Name)
		}
		return out
	}
	if got := names(f.o.PodsOfRole(v2beta1.RoleCore)); !slices.Equal(got, []string{"c-core-0", "c-core-1", "c-core-2"}) {
		t.Errorf("core pods %v", got)
	}
	if got := names(f.o.PodsOfRole(v2beta1.RoleReplicant)); !slices.Equal(got, []string{"c-replicant-0", "c-replicant-1"}) {
		t.Errorf("replicant pods %v", got)
	}
	if got := f.o.RunningNodes(v2beta1.RoleReplicant); len(got) != 1 || !got[n("c-replicant-0")] {
		t.Errorf("running replicants %v", got)
	}
	if pod := PodForNode(f.e, n("c-core-1")); pod != "c-core-1" || NodeName(f.e, pod) != n("c-core-1") {
		t.Errorf("PodForNode = %q", pod)
	}
	if pod := PodForNode(f.e, "emqx@c-core-1.other-headless.ns.svc.cluster.local"); pod != "" {
		t.Errorf("PodForNode of another cluster's node = %q", pod)
	}
}
