package chaose2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/tlscert"
	"github.com/broker-ops/emqx-operator/internal/tlscert/tlscerttest"
	"github.com/broker-ops/emqx-operator/test/chaos"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

// shape of each cluster of a run (cores, replicants), cycled when a run has more clusters.
var shapes = [][2]int32{{3, 2}, {2, 0}, {3, 1}}

// cluster is what the harness wants of one cluster: the spec it last asked for.
type cluster struct {
	ns, name   string
	image      int // the image is emqx/emqx-enterprise:5.8.<6+image>
	level      int
	limit      int
	licences   int
	paused     bool
	cores, rep int32
	// certificate is the fingerprint of the newest certificate in the listeners' TLS Secret.
	certificate string
	backups     int
}

func (c *cluster) key() string { return c.ns + "/" + c.name }

func (c *cluster) imageTag() string { return fmt.Sprintf("5.8.%d", 6+c.image) }

func (c *cluster) configData() string {
	return fmt.Sprintf("log.console.level = %s\nnode.process_limit = %d", []string{"info", "debug", "warning"}[c.level%3], 2097152+c.limit)
}

// world is one run: its clusters, the checker, and the faults waiting to be cleared.
type world struct {
	run      string
	clusters []*cluster
	check    *chaos.Checker
	tmp      string

	mu      sync.Mutex
	pending []timed // faults to clear, by time
	faulty  map[string]bool
	killed  int // operator kills not followed by their restart yet
	faults  int
	actions int
	// jobs: the backup and restore Jobs' pods run (as processes, which needs root); without it
	// the backup and restore steps do nothing.
	jobs    bool
	runners []*harness.JobRunner
	// restoresSkipped counts restore steps that found no succeeded backup of their cluster.
	restoresSkipped int
}

type timed struct {
	at time.Time
	do func() error
}

func (w *world) later(d time.Duration, do func() error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, timed{time.Now().Add(d), do})
	sort.SliceStable(w.pending, func(i, j int) bool { return w.pending[i].at.Before(w.pending[j].at) })
}

// due runs the clearings whose time has come (all of them when flush).
func (w *world) due(flush bool) error {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 || (!flush && time.Now().Before(w.pending[0].at)) {
			w.mu.Unlock()
			return nil
		}
		next := w.pending[0]
		w.pending = w.pending[1:]
		w.mu.Unlock()
		if err := next.do(); err != nil {
			return err
		}
	}
}

// kubectl runs the user's tool (the pinned kubectl) against the local cluster.
func kubectl(args ...string) (string, error) { return env.KubectlOutput(args...) }

// newWorld creates the run's clusters with kubectl apply, each in a namespace of its own with a
// licence Secret, and waits until every one is Ready with clients on every node. On an error it
// returns what it made so far, for teardown.
func newWorld(t *testing.T, run string, n int, tmp string) (*world, error) {
	w := &world{run: run, check: chaos.NewChecker(1, staleBound, keyBound), tmp: tmp, faulty: map[string]bool{}, jobs: os.Geteuid() == 0}
	if !w.jobs {
		t.Log("not root: the backup and restore steps do nothing (their Jobs' pods cannot run)")
	}
	for i := 0; i < n; i++ {
		shape := shapes[i%len(shapes)]
		c := &cluster{ns: fmt.Sprintf("chaos-%s-%d", run, i), name: fmt.Sprintf("c%d", i), cores: shape[0], rep: shape[1]}
		w.clusters = append(w.clusters, c)
		if _, err := kubectl("create", "namespace", c.ns); err != nil {
			return w, err
		}
		if err := w.setLicence(c); err != nil {
			return w, err
		}
		if err := w.setCertificate(c); err != nil {
			return w, err
		}
		if w.jobs {
			if err := w.apply(c, backupClaim(c)); err != nil {
				return w, err
			}
			w.runners = append(w.runners, env.RunJobs(t, c.ns, map[string]string{"backups": t.TempDir()}))
		}
		if err := w.apply(c, c.manifest()); err != nil {
			return w, err
		}
	}
	for _, c := range w.clusters {
		if err := waitReady(c, 120*time.Second); err != nil {
			return w, err
		}
	}
	return w, w.topUp()
}

func (c *cluster) manifest() *v2beta1.EMQX {
	e := &v2beta1.EMQX{TypeMeta: metav1.TypeMeta{APIVersion: v2beta1.GroupVersion.String(), Kind: "EMQX"},
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: c.name},
		Spec: v2beta1.EMQXSpec{
			Image:   "emqx/emqx-enterprise:" + c.imageTag(),
			License: &v2beta1.License{SecretRef: v2beta1.KeyRef{SecretName: "emqx-license", SecretKey: "key"}},
			Config:  v2beta1.Config{Data: c.configData()},
			CoreTemplate: v2beta1.CoreTemplate{Spec: v2beta1.CoreTemplateSpec{
				ReplicantTemplateSpec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(c.cores)},
				VolumeClaimTemplates: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
			ReplicantTemplate: &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To(c.rep)}},
			TLS:               &v2beta1.TLS{SecretName: "mqtt-tls", DNSNames: c.dnsNames()},
		},
	}
	e.Spec.UpdateStrategy.InitialDelaySeconds = ptr.To[int32](1)
	return e
}

// apply writes obj to a file and applies it with kubectl, as a user would.
func (w *world) apply(c *cluster, obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	f := filepath.Join(w.tmp, c.name+".json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		return err
	}
	_, err = kubectl("apply", "-f", f)
	return err
}

func (w *world) patch(c *cluster, spec string) error {
	_, err := kubectl("-n", c.ns, "patch", "emqx", c.name, "--type=merge", "-p", `{"spec":`+spec+`}`)
	return err
}

func (w *world) setLicence(c *cluster) error {
	c.licences++
	key := simulator.EncodeTestLicense(fmt.Sprintf("Chaos %d", c.licences), "official", 1000000, time.Now().AddDate(1, 0, 0))
	s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "emqx-license"}, StringData: map[string]string{"key": key}}
	return w.apply(c, s)
}

func (c *cluster) dnsNames() []string {
	svc := c.name + "-listeners"
	return []string{svc, svc + "." + c.ns, svc + "." + c.ns + ".svc"}
}

// setCertificate puts a new certificate and key for the listeners into their TLS Secret.
func (w *world) setCertificate(c *cluster) error {
	crt, key := tlscerttest.Valid(c.dnsNames()...)
	pair, err := tlscert.Parse(map[string][]byte{"tls.crt": crt, "tls.key": key})
	if err != nil {
		return err
	}
	c.certificate = pair.Fingerprint()
	s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "mqtt-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": crt, "tls.key": key}}
	return w.apply(c, s)
}

// backupClaim is the volume the cluster's backups are written to.
func backupClaim(c *cluster) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "backups"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
}

// backup asks for a backup of the cluster to its backups volume.
func (w *world) backup(c *cluster) error {
	if !w.jobs {
		return nil
	}
	c.backups++
	return w.apply(c, &v2beta1.EMQXBackup{TypeMeta: metav1.TypeMeta{APIVersion: v2beta1.GroupVersion.String(), Kind: "EMQXBackup"},
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: fmt.Sprintf("%s-%d", c.name, c.backups)},
		Spec: v2beta1.EMQXBackupSpec{ClusterName: c.name,
			BackupStorage: v2beta1.BackupStorage{PVC: &v2beta1.BackupPVC{ClaimName: "backups", SubPath: c.name}}}})
}

// restore imports the cluster's newest succeeded backup into it; without one it does nothing.
func (w *world) restore(c *cluster, index int) error {
	if !w.jobs {
		return nil
	}
	ctx, cancel := harness.Ctx()
	defer cancel()
	list := &v2beta1.EMQXBackupList{}
	if err := env.Client.List(ctx, list, client.InNamespace(c.ns)); err != nil {
		return err
	}
	var newest *v2beta1.EMQXBackup
	for i := range list.Items {
		b := &list.Items[i]
		if b.Status.Phase == v2beta1.BackupSucceeded && (newest == nil || newest.CreationTimestamp.Before(&b.CreationTimestamp)) {
			newest = b
		}
	}
	if newest == nil {
		w.mu.Lock()
		w.restoresSkipped++
		w.mu.Unlock()
		return nil
	}
	return w.apply(c, &v2beta1.EMQXRestore{TypeMeta: metav1.TypeMeta{APIVersion: v2beta1.GroupVersion.String(), Kind: "EMQXRestore"},
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: fmt.Sprintf("%s-restore-%d", c.name, index)},
		Spec:       v2beta1.EMQXRestoreSpec{ClusterName: c.name, BackupName: newest.Name}})
}

func waitReady(c *cluster, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := kubectl("-n", c.ns, "get", "emqx", c.name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err == nil && strings.TrimSpace(out) == "True" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster %s not Ready after %s (%s %v)", c.key(), timeout, out, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// do carries one step out. Errors are the harness's own (a kubectl that failed): the run stops.
func (w *world) do(s chaos.Step) error {
	c := w.clusters[s.Cluster%len(w.clusters)]
	if s.Kind.IsFault() {
		w.faults++
	} else {
		w.actions++
	}
	switch s.Kind {
	case chaos.ScaleCores:
		c.cores = int32(s.Value)
		return w.patch(c, fmt.Sprintf(`{"coreTemplate":{"spec":{"replicas":%d}}}`, s.Value))
	case chaos.ScaleReplicants:
		c.rep = int32(s.Value)
		return w.patch(c, fmt.Sprintf(`{"replicantTemplate":{"spec":{"replicas":%d}}}`, s.Value))
	case chaos.ChangeImage:
		c.image++
		return w.patch(c, fmt.Sprintf(`{"image":"emqx/emqx-enterprise:%s"}`, c.imageTag()))
	case chaos.RuntimeConfig, chaos.RestartConfig:
		if s.Kind == chaos.RuntimeConfig {
			c.level++
		} else {
			c.limit++
		}
		b, _ := json.Marshal(c.configData())
		return w.patch(c, `{"config":{"data":`+string(b)+`}}`)
	case chaos.RotateLicence:
		return w.setLicence(c)
	case chaos.RotateCertificate:
		return w.setCertificate(c)
	case chaos.Backup:
		return w.backup(c)
	case chaos.Restore:
		return w.restore(c, s.Index)
	case chaos.Pause, chaos.Resume:
		c.paused = s.Kind == chaos.Pause
		arg := v2beta1.PauseAnnotation + "-"
		if c.paused {
			arg = v2beta1.PauseAnnotation + "=true"
		}
		_, err := kubectl("-n", c.ns, "annotate", "--overwrite", "emqx", c.name, arg)
		return err
	case chaos.DeletePod:
		pod := w.pick(c, s.Pick, "")
		if pod == nil {
			return nil
		}
		// By UID: the pod picked may be gone and its name another pod's by now.
		w.check.DisruptPod(c.key(), pod.Name, string(pod.UID))
		ctx, cancel := harness.Ctx()
		defer cancel()
		err := env.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			w.check.Undisrupt(c.key(), pod.Name)
			return nil
		}
		return err
	case chaos.DrainNode:
		return w.drain(s)
	case chaos.DeleteAPIKeySecret:
		uid, err := kubectl("-n", c.ns, "get", "secret", c.name+"-operator-api-key", "--ignore-not-found", "-o", "jsonpath={.metadata.uid}")
		if err != nil || strings.TrimSpace(uid) == "" {
			return err // not there (being made again after an earlier deletion): nothing to delete
		}
		w.check.DeletedAPIKey(c.key(), time.Now(), strings.TrimSpace(uid))
		_, err = kubectl("-n", c.ns, "delete", "secret", c.name+"-operator-api-key", "--ignore-not-found")
		return err
	case chaos.KillOperator:
		env.KillOperator()
		w.mu.Lock()
		w.killed++
		w.mu.Unlock()
		w.later(s.Hold, func() error {
			w.mu.Lock()
			w.killed--
			w.mu.Unlock()
			return startOperator()
		})
		return nil
	case chaos.RestartAPIServer:
		return env.RestartAPIServer()
	case chaos.EMQXServerError, chaos.EMQXSlow, chaos.EMQXHung, chaos.StopCore:
		return w.nodeFault(c, s)
	case chaos.NodeNotReady:
		return w.nodeNotReady(s)
	}
	return fmt.Errorf("unknown step kind %q", s.Kind)
}

// operatorExited: the operator is not running and the harness did not kill it (it crashed).
func (w *world) operatorExited() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.killed == 0 && !env.OperatorRunning()
}

// topUp gives every running node of the run's clusters that has no clients (new, restarted)
// 100, so that the clients-dropped invariant keeps something to watch over a long run.
func (w *world) topUp() error {
	nodes, err := env.Sim.Nodes()
	if err != nil {
		return err
	}
	for _, node := range nodes {
		if strings.HasPrefix(node.Pod, "chaos-"+w.run+"-") && node.State == "running" && node.Connections == 0 && node.Evacuation == "" {
			if err := env.Sim.SetConnections(node.Name, 100); err != nil {
				return err
			}
		}
	}
	return nil
}

// startOperator starts the operator unless it runs (a second kill before the restart, say).
func startOperator() error {
	if env.OperatorRunning() {
		return nil
	}
	return env.StartOperator()
}

// pick chooses a live pod of the cluster (of one role, or any when role is ""), nil if none.
func (w *world) pick(c *cluster, pick int, role string) *corev1.Pod {
	ctx, cancel := harness.Ctx()
	defer cancel()
	list := &corev1.PodList{}
	if err := env.Client.List(ctx, list, client.InNamespace(c.ns), client.MatchingLabels{v2beta1.LabelInstance: c.name}); err != nil {
		return nil
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Labels[v2beta1.LabelDBRole] != "" && (role == "" || p.Labels[v2beta1.LabelDBRole] == role) {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return nil
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Name < live[j].Name })
	return &live[pick%len(live)]
}

// nodeFault switches a simulator fault on for Hold on one node of the cluster. A stopped core is
// a disruption the harness made; an API that fails or hangs is not (the node still runs).
func (w *world) nodeFault(c *cluster, s chaos.Step) error {
	role := ""
	if s.Kind == chaos.StopCore {
		role = v2beta1.RoleCore
	}
	pod := w.pick(c, s.Pick, role)
	if pod == nil {
		return nil
	}
	node := v2beta1NodeName(c, pod.Name)
	w.mu.Lock()
	busy := w.faulty[node]
	w.faulty[node] = true
	w.mu.Unlock()
	if busy {
		return nil // one fault per node at a time: clearing one must not clear another
	}
	var f simulator.Faults
	switch s.Kind {
	case chaos.EMQXServerError:
		f.ServerError = true
	case chaos.EMQXSlow:
		f.Delay = time.Duration(s.Value) * time.Millisecond
	case chaos.EMQXHung:
		f.Unresponsive = true
	case chaos.StopCore:
		f.Stopped = true
		w.check.DisruptNode(c.key(), pod.Name)
	}
	if err := env.Sim.SetFaults(node, f); err != nil {
		return err
	}
	w.later(s.Hold, func() error {
		w.mu.Lock()
		delete(w.faulty, node)
		w.mu.Unlock()
		err := env.Sim.SetFaults(node, simulator.Faults{})
		if s.Kind == chaos.StopCore {
			w.check.EndDisruption(c.key(), pod.Name)
		}
		// The node may be gone meanwhile (scaled in, replaced): nothing left to clear.
		if err != nil && strings.Contains(err.Error(), "404") {
			return nil
		}
		return err
	})
	return nil
}

func v2beta1NodeName(c *cluster, pod string) string {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: c.name}}
	return e.NodeName(pod)
}

// nodeNotReady has one fake node report Ready=False for Hold (the rig's node-not-ready stage):
// the node controller taints it, so nothing new is scheduled there; its pods keep running.
func (w *world) nodeNotReady(s chaos.Step) error {
	node, err := pickNode(s.Pick)
	if err != nil || node == "" {
		return err
	}
	w.mu.Lock()
	busy := w.faulty["node/"+node]
	w.faulty["node/"+node] = true
	w.mu.Unlock()
	if busy {
		return nil
	}
	if _, err := kubectl("label", "--overwrite", "node", node, notReadyLabel+"=true"); err != nil {
		return err
	}
	w.later(s.Hold, func() error {
		w.mu.Lock()
		delete(w.faulty, "node/"+node)
		w.mu.Unlock()
		_, err := kubectl("label", "node", node, notReadyLabel+"-")
		return err
	})
	return nil
}

// notReadyLabel makes a fake node report NotReady (hack/kwok/stages.yaml).
const notReadyLabel = "sim.emqx.io/not-ready"

// pickNode chooses a fake node by pick, "" when there is none.
func pickNode(pick int) (string, error) {
	ctx, cancel := harness.Ctx()
	defer cancel()
	nodes := &corev1.NodeList{}
	if err := env.Client.List(ctx, nodes); err != nil {
		return "", err
	}
	if len(nodes.Items) == 0 {
		return "", nil
	}
	sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
	return nodes.Items[pick%len(nodes.Items)].Name, nil
}

// drain cordons one fake node and evicts the run's pods on it, as `kubectl drain` does (the
// PodDisruptionBudgets refuse what would take a second node of a cluster down); it is uncordoned
// after Hold.
func (w *world) drain(s chaos.Step) error {
	node, err := pickNode(s.Pick)
	if err != nil || node == "" {
		return err
	}
	ctx, cancel := harness.Ctx()
	defer cancel()
	if _, err := kubectl("cordon", node); err != nil {
		return err
	}
	w.later(s.Hold, func() error { _, err := kubectl("uncordon", node); return err })
	for _, c := range w.clusters {
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace(c.ns)); err != nil {
			return err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Spec.NodeName != node || p.DeletionTimestamp != nil {
				continue
			}
			w.check.DisruptPod(c.key(), p.Name, string(p.UID))
			err := env.Client.SubResource("eviction").Create(ctx, p, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
				DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}})
			if err != nil {
				w.check.Undisrupt(c.key(), p.Name)
				if !apierrors.IsTooManyRequests(err) && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					return fmt.Errorf("evicting %s/%s: %w", p.Namespace, p.Name, err)
				}
			}
		}
	}
	return nil
}

// converge clears every fault, resumes paused clusters and waits until each cluster runs what
// its spec says: Ready, every wanted node running the wanted release, no evacuation left.
func (w *world) converge(timeout time.Duration) []chaos.Violation {
	var out []chaos.Violation
	if err := w.due(true); err != nil {
		out = append(out, chaos.Violation{At: time.Now(), Invariant: "harness", Detail: err.Error()})
	}
	if w.operatorExited() {
		out = append(out, chaos.Violation{At: time.Now(), Invariant: chaos.Panicked, Detail: "the operator exited by itself (see its log)"})
	}
	if err := startOperator(); err != nil {
		out = append(out, chaos.Violation{At: time.Now(), Invariant: "harness", Detail: err.Error()})
	}
	for _, c := range w.clusters {
		if c.paused {
			c.paused = false
			if _, err := kubectl("-n", c.ns, "annotate", "--overwrite", "emqx", c.name, v2beta1.PauseAnnotation+"-"); err != nil {
				out = append(out, chaos.Violation{At: time.Now(), Invariant: "harness", Detail: err.Error()})
			}
		}
	}
	deadline := time.Now().Add(timeout)
	for _, c := range w.clusters {
		var why error
		for {
			if why = converged(c); why == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		if why != nil {
			out = append(out, chaos.Violation{At: time.Now(), Invariant: chaos.NotConverged, Cluster: c.key(),
				Detail: fmt.Sprintf("not converged %s after the faults stopped: %v\n%s", timeout, why, describe(c))})
		}
	}
	return out
}

func converged(c *cluster) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := &v2beta1.EMQX{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: c.ns, Name: c.name}, e); err != nil {
		return err
	}
	nodes, err := env.Sim.Nodes()
	if err != nil {
		return err
	}
	counts := map[string]int32{}
	for _, n := range nodes {
		if !strings.HasPrefix(n.Pod, c.ns+"/") || n.State != "running" {
			continue
		}
		if n.Version != c.imageTag() || n.Evacuation != "" {
			return fmt.Errorf("node %s runs %s, evacuation %q", n.Name, n.Version, n.Evacuation)
		}
		counts[n.Role]++
	}
	if counts[v2beta1.RoleCore] != c.cores || counts[v2beta1.RoleReplicant] != c.rep {
		return fmt.Errorf("%d cores and %d replicants run, want %d and %d", counts[v2beta1.RoleCore], counts[v2beta1.RoleReplicant], c.cores, c.rep)
	}
	// No rollout stuck: every pod exists, is not going and runs its StatefulSet's update revision.
	sets := &appsv1.StatefulSetList{}
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, sets, client.InNamespace(c.ns)); err != nil {
		return err
	}
	if err := env.Client.List(ctx, pods, client.InNamespace(c.ns)); err != nil {
		return err
	}
	want := map[string]int32{c.name + "-core": c.cores, c.name + "-replicant": c.rep}
	for _, st := range sets.Items {
		if r := ptr.Deref(st.Spec.Replicas, 0); r != want[st.Name] {
			return fmt.Errorf("StatefulSet %s has %d replicas, want %d", st.Name, r, want[st.Name])
		}
		for _, p := range pods.Items {
			if !strings.HasPrefix(p.Name, st.Name+"-") {
				continue
			}
			if p.DeletionTimestamp != nil || p.Labels[appsv1.ControllerRevisionHashLabelKey] != st.Status.UpdateRevision {
				return fmt.Errorf("pod %s: revision %s (update revision %s), terminating %v", p.Name,
					p.Labels[appsv1.ControllerRevisionHashLabelKey], st.Status.UpdateRevision, p.DeletionTimestamp != nil)
			}
		}
	}
	if err := servesCertificate(ctx, c, pods.Items); err != nil {
		return err
	}
	if err := jobsFinished(ctx, c); err != nil {
		return err
	}
	for _, cond := range e.Status.Conditions {
		if cond.Type == v2beta1.Ready && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == e.Generation {
			return nil
		}
	}
	return fmt.Errorf("not Ready for generation %d: %+v", e.Generation, e.Status.Conditions)
}

// servesCertificate: every EMQX pod's MQTT-over-TLS listener serves the newest certificate
// (checked by a handshake).
func servesCertificate(ctx context.Context, c *cluster, pods []corev1.Pod) error {
	for _, p := range pods {
		if p.Labels[v2beta1.LabelDBRole] == "" || p.Status.PodIP == "" {
			continue
		}
		got, err := tlscert.Served(ctx, net.JoinHostPort(p.Status.PodIP, "8883"), 2*time.Second)
		if err != nil {
			return fmt.Errorf("%s:8883: %w", p.Name, err)
		}
		if got != c.certificate {
			return fmt.Errorf("%s:8883 serves certificate %.12s…, the Secret holds %.12s…", p.Name, got, c.certificate)
		}
	}
	return nil
}

// jobsFinished: every backup and restore of the cluster has ended (succeeded, or failed with its
// reason): none is stuck.
func jobsFinished(ctx context.Context, c *cluster) error {
	backups := &v2beta1.EMQXBackupList{}
	restores := &v2beta1.EMQXRestoreList{}
	if err := env.Client.List(ctx, backups, client.InNamespace(c.ns)); err != nil {
		return err
	}
	if err := env.Client.List(ctx, restores, client.InNamespace(c.ns)); err != nil {
		return err
	}
	for _, b := range backups.Items {
		if err := finishedWithReason("backup "+b.Name, b.Status.RunStatus); err != nil {
			return err
		}
	}
	for _, r := range restores.Items {
		if err := finishedWithReason("restore "+r.Name, r.Status.RunStatus); err != nil {
			return err
		}
	}
	return nil
}

// finishedWithReason: ended, and a failure says why.
func finishedWithReason(what string, run v2beta1.RunStatus) error {
	switch {
	case !run.Finished():
		return fmt.Errorf("%s not finished: %s %s", what, run.Phase, run.Message)
	case run.Phase == v2beta1.BackupFailed && strings.TrimSpace(run.Message) == "":
		return fmt.Errorf("%s failed without a reason in its status", what)
	}
	return nil
}

// jobSummary counts the run's backups and restores by phase, for the run's report.
func (w *world) jobSummary() string {
	ctx, cancel := harness.Ctx()
	defer cancel()
	counts := map[string]int{}
	for _, c := range w.clusters {
		backups := &v2beta1.EMQXBackupList{}
		restores := &v2beta1.EMQXRestoreList{}
		if err := env.Client.List(ctx, backups, client.InNamespace(c.ns)); err != nil {
			return "backups: " + err.Error()
		}
		if err := env.Client.List(ctx, restores, client.InNamespace(c.ns)); err != nil {
			return "restores: " + err.Error()
		}
		for _, b := range backups.Items {
			counts["backups "+string(b.Status.Phase)]++
		}
		for _, r := range restores.Items {
			counts["restores "+string(r.Status.Phase)]++
		}
	}
	if w.restoresSkipped > 0 {
		counts["restore steps with no succeeded backup yet"] = w.restoresSkipped
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, counts[k]))
	}
	if len(parts) == 0 {
		return "no backup or restore"
	}
	return strings.Join(parts, ", ")
}

// teardown deletes the run's namespaces (their PVCs included).
func (w *world) teardown() {
	// A replay's Job runners stop with it: each lists its namespace's pods every 200 ms.
	for _, r := range w.runners {
		r.Stop()
	}
	for _, c := range w.clusters {
		_, _ = kubectl("delete", "namespace", c.ns, "--wait=false")
	}
}

// describe is what a reader of a convergence failure needs: the cluster's conditions, its
// StatefulSets and pods.
func describe(c *cluster) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"get", "emqx", c.name, "-o", `jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}`},
		{"get", "statefulsets,pods", "-o", "wide"},
		{"get", "events", "--sort-by=.lastTimestamp"},
	} {
		out, err := kubectl(append([]string{"-n", c.ns}, args...)...)
		if err != nil {
			out = err.Error()
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		b.WriteString("    " + strings.Join(lines, "\n    ") + "\n")
	}
	return b.String()
}
