package migrate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

// vendorCluster lays out a 3-core + 2-replicant cluster the way the vendor's emqx-operator does:
// a core StatefulSet <name>-core-<hash> with claim template <name>-core-data, a replicant
// ReplicaSet <name>-replicant-<hash> whose nodes are named by pod IP, its Secrets (the cookie under
// node_cookie, its bootstrap key emqx-operator-controller), its ConfigMap, Services whose
// selectors carry the pod-template-hash, and a PodDisruptionBudget; all owned by the EMQX.
func vendorCluster(t *testing.T, c client.Client, e *v2beta1.EMQX) {
	t.Helper()
	ns, name := e.Namespace, e.Name
	owner := []metav1.OwnerReference{*metav1.NewControllerRef(e, v2beta1.GroupVersion.WithKind("EMQX"))}
	meta := func(n string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: n, Labels: labels, OwnerReferences: owner}
	}
	base := map[string]string{v2beta1.LabelInstance: name, v2beta1.LabelManagedBy: v2beta1.ManagedByValue}
	with := func(extra ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(extra); i += 2 {
			out[extra[i]] = extra[i+1]
		}
		return out
	}
	coreLabels := with(v2beta1.LabelDBRole, v2beta1.RoleCore, "apps.emqx.io/pod-template-hash", "6f8d9c7b5")
	replLabels := with(v2beta1.LabelDBRole, v2beta1.RoleReplicant, "apps.emqx.io/pod-template-hash", "5d4f8b9c7")
	headless := name + "-headless." + ns + ".svc.cluster.local"
	apply(t, c, &corev1.Secret{ObjectMeta: meta(name+"-node-cookie", base), StringData: map[string]string{"node_cookie": "vendor-cookie-0123456789"}})
	apply(t, c, &corev1.Secret{ObjectMeta: meta(name+"-bootstrap-api-key", base),
		StringData: map[string]string{"bootstrap_api_key": "emqx-operator-controller:vendor-secret-0123456789"}})
	apply(t, c, &corev1.ConfigMap{ObjectMeta: meta(name+"-configs", base), Data: map[string]string{"emqx.conf": ""}})
	apply(t, c, &corev1.Service{ObjectMeta: meta(name+"-headless", base), Spec: corev1.ServiceSpec{ClusterIP: "None",
		PublishNotReadyAddresses: true, Selector: with(v2beta1.LabelDBRole, v2beta1.RoleCore),
		Ports: []corev1.ServicePort{{Name: "ekka", Port: 4370, TargetPort: intstr.FromInt32(4370)}}}})
	apply(t, c, &corev1.Service{ObjectMeta: meta(name+"-listeners", base), Spec: corev1.ServiceSpec{Selector: replLabels,
		Ports: []corev1.ServicePort{{Name: "tcp-default", Port: 1883, TargetPort: intstr.FromInt32(1883)}}}})
	apply(t, c, &policyv1.PodDisruptionBudget{ObjectMeta: meta(name+"-core-pdb", base), Spec: policyv1.PodDisruptionBudgetSpec{
		MaxUnavailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: coreLabels}}})

	container := func(role string, host corev1.EnvVar, dataVolume string) corev1.Container {
		return corev1.Container{Name: "emqx", Image: e.Spec.Image, Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "EMQX_CLUSTER__DISCOVERY_STRATEGY", Value: "dns"},
			{Name: "EMQX_CLUSTER__DNS__RECORD_TYPE", Value: "srv"},
			{Name: "EMQX_CLUSTER__DNS__NAME", Value: headless},
			host,
			{Name: "EMQX_NODE__ROLE", Value: role},
			{Name: "EMQX_NODE__COOKIE", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: name + "-node-cookie"}, Key: "node_cookie"}}},
			{Name: "EMQX_API_KEY__BOOTSTRAP_FILE", Value: `"/opt/emqx/data/bootstrap_api_key"`},
		}, VolumeMounts: []corev1.VolumeMount{
			{Name: "bootstrap-api-key", MountPath: "/opt/emqx/data/bootstrap_api_key", SubPath: "bootstrap_api_key", ReadOnly: true},
			{Name: "bootstrap-config", MountPath: "/opt/emqx/etc/emqx.conf", SubPath: "emqx.conf", ReadOnly: true},
			{Name: dataVolume, MountPath: "/opt/emqx/data"},
		}}
	}
	volumes := []corev1.Volume{
		{Name: "bootstrap-api-key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name + "-bootstrap-api-key"}}},
		{Name: "bootstrap-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name + "-configs"}}}},
	}
	apply(t, c, &appsv1.StatefulSet{ObjectMeta: meta(name+"-core-6f8d9c7b5", coreLabels), Spec: appsv1.StatefulSetSpec{
		Replicas: ptr.To[int32](3), ServiceName: name + "-headless", PodManagementPolicy: appsv1.ParallelPodManagement,
		Selector: &metav1.LabelSelector{MatchLabels: coreLabels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: coreLabels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{container("core", corev1.EnvVar{Name: "EMQX_HOST", Value: "$(POD_NAME)." + headless}, name+"-core-data")},
			Volumes:    volumes}},
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: name + "-core-data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}}})
	apply(t, c, &appsv1.ReplicaSet{ObjectMeta: meta(name+"-replicant-5d4f8b9c7", replLabels), Spec: appsv1.ReplicaSetSpec{
		Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: replLabels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: replLabels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{container("replicant", corev1.EnvVar{Name: "EMQX_HOST", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}, name+"-replicant-data")},
			Volumes: append(volumes, corev1.Volume{Name: name + "-replicant-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})}}}})
}

// downSampler records, while it runs, the largest number of EMQX nodes down at one moment: cores
// (3 wanted) not Ready, plus replicants missing from the 2 wanted (the vendor's and this
// operator's Ready replicants together).
type downSampler struct {
	mu      sync.Mutex
	maxDown int
	at      string
	stop    chan struct{}
	done    chan struct{}
}

func sampleDown(t *testing.T, c client.Client, ns string) *downSampler {
	s := &downSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			pods := &corev1.PodList{}
			if err := c.List(context.Background(), pods, client.InNamespace(ns)); err != nil {
				continue
			}
			cores, replicants := 0, 0
			for i := range pods.Items {
				p := &pods.Items[i]
				if !harness.PodReady(p) || p.DeletionTimestamp != nil {
					continue
				}
				switch p.Labels[v2beta1.LabelDBRole] {
				case v2beta1.RoleCore:
					cores++
				case v2beta1.RoleReplicant:
					replicants++
				}
			}
			down := max(0, 3-cores) + max(0, 2-replicants)
			s.mu.Lock()
			if down > s.maxDown {
				s.maxDown, s.at = down, fmt.Sprintf("%d cores and %d replicants Ready at %s", cores, replicants, time.Now().Format(time.StampMilli))
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *downSampler) result() (int, string) {
	close(s.stop)
	<-s.done
	return s.maxDown, s.at
}

// TestAdoptVendorClusterWithoutAnOutage: a 3-core + 2-replicant cluster running in the vendor's
// workloads, with clients connected, is taken over once the user sets the adopt annotation: it
// turns Ready under this operator with the vendor's core StatefulSet kept under its name, every
// PVC the same (UIDs unchanged), the vendor's replicants drained node by node into this operator's,
// the cores rolled onto this operator's template one at a time, no client lost, and never more
// than one node down.
func TestAdoptVendorClusterWithoutAnOutage(t *testing.T) {
	if err := env.InstallCRDs(); err != nil {
		t.Fatal(err)
	}
	ns := env.NewNamespace(t)
	c := apiClient(t)
	ctx := context.Background()
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vend",
		Annotations: map[string]string{v2beta1.AnnotationAdoptVendorWorkloads: "true"}},
		Spec: v2beta1.EMQXSpec{Image: "emqx/emqx-enterprise:5.8.6",
			UpdateStrategy: v2beta1.UpdateStrategy{InitialDelaySeconds: ptr.To[int32](1)},
			CoreTemplate: v2beta1.CoreTemplate{Spec: v2beta1.CoreTemplateSpec{
				ReplicantTemplateSpec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To[int32](3)},
				VolumeClaimTemplates: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}},
			ReplicantTemplate: &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To[int32](2)}}}}
	apply(t, c, e)
	vendorCluster(t, c, e)

	// The vendor's cluster runs: 5 nodes in one EMQX cluster, clients on the replicants.
	var replicantNodes []string
	harness.Eventually(t, 60*time.Second, "the vendor's 5 nodes in one cluster", func() error {
		nodes, err := env.Sim.Nodes()
		if err != nil {
			return err
		}
		clusters := map[int]int{}
		replicantNodes = nil
		for _, n := range nodes {
			if strings.HasPrefix(n.Pod, ns+"/") && n.State == "running" {
				clusters[n.Cluster]++
				if n.Role == "replicant" {
					replicantNodes = append(replicantNodes, n.Name)
				}
			}
		}
		if len(clusters) != 1 || len(replicantNodes) != 2 {
			return fmt.Errorf("clusters %v, replicants %v", clusters, replicantNodes)
		}
		for _, v := range clusters {
			if v != 5 {
				return fmt.Errorf("clusters %v", clusters)
			}
		}
		return nil
	})
	for _, n := range replicantNodes {
		if err := env.Sim.SetConnections(n, 300); err != nil {
			t.Fatal(err)
		}
	}
	pvcs := func() map[string]types.UID {
		list := &corev1.PersistentVolumeClaimList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		out := map[string]types.UID{}
		for _, p := range list.Items {
			out[p.Name] = p.UID
		}
		return out
	}
	var before map[string]types.UID
	harness.Eventually(t, 30*time.Second, "the vendor's 3 PVCs", func() error {
		if before = pvcs(); len(before) != 3 {
			return fmt.Errorf("%d PVCs", len(before))
		}
		return nil
	})

	down := sampleDown(t, c, ns)
	start := time.Now()
	m, err := env.StartManager("operator-adopting", []string{"KUBECONFIG=" + env.Kubeconfig}, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0", "--join-timeout=3s", "--zap-log-level=debug")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	var got *v2beta1.EMQX
	harness.Eventually(t, 240*time.Second, "the adopted cluster Ready under this operator", func() error {
		got = &v2beta1.EMQX{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(e), got); err != nil {
			return err
		}
		rsets := &appsv1.ReplicaSetList{}
		if err := c.List(ctx, rsets, client.InNamespace(ns)); err != nil {
			return err
		}
		ready := meta.FindStatusCondition(got.Status.Conditions, v2beta1.Ready)
		if ready == nil || ready.Status != metav1.ConditionTrue || got.Status.ObservedGeneration != got.Generation || len(rsets.Items) != 0 {
			return fmt.Errorf("Ready %+v, %d ReplicaSets left", ready, len(rsets.Items))
		}
		return nil
	})
	maxDown, at := down.result()
	t.Logf("adopted and Ready in %s; at most %d node(s) down (%s)", time.Since(start).Round(time.Second), maxDown, at)
	if maxDown > 1 {
		t.Errorf("%d nodes were down at once (%s), want at most one", maxDown, at)
	}
	if after := pvcs(); len(after) != 3 || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("PVCs changed:\nbefore %v\nafter  %v", before, after)
	}
	if got.Annotations[v2beta1.AnnotationCoreStatefulSet] != "vend-core-6f8d9c7b5" {
		t.Errorf("adopted core StatefulSet recorded as %q", got.Annotations[v2beta1.AnnotationCoreStatefulSet])
	}
	sts := &appsv1.StatefulSet{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vend-core-6f8d9c7b5"}, sts); err != nil {
		t.Fatal(err)
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	cores, replicants := 0, 0
	for _, p := range pods.Items {
		switch {
		case strings.HasPrefix(p.Name, "vend-core-6f8d9c7b5-"):
			cores++
			if p.Labels[appsv1.ControllerRevisionHashLabelKey] != sts.Status.UpdateRevision {
				t.Errorf("core %s still runs the vendor's template", p.Name)
			}
		case strings.HasPrefix(p.Name, "vend-replicant-") && metav1.GetControllerOf(&p).Kind == "StatefulSet":
			replicants++
		default:
			t.Errorf("pod %s is left from the vendor's layout", p.Name)
		}
	}
	if cores != 3 || replicants != 2 {
		t.Errorf("%d cores and %d replicants of this operator, want 3 and 2", cores, replicants)
	}
	listeners := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vend-listeners"}, listeners); err != nil {
		t.Fatal(err)
	}
	if _, stale := listeners.Spec.Selector["apps.emqx.io/pod-template-hash"]; stale || listeners.Spec.Selector[v2beta1.LabelDBRole] != v2beta1.RoleReplicant {
		t.Errorf("listeners Service selector %v, want this operator's replicants", listeners.Spec.Selector)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vend-core-pdb"}, &policyv1.PodDisruptionBudget{}); !apierrors.IsNotFound(err) {
		t.Errorf("the vendor's PodDisruptionBudget is still there (%v)", err)
	}
	nodes, err := env.Sim.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	var clients int64
	for _, n := range nodes {
		if strings.HasPrefix(n.Pod, ns+"/") && n.State == "running" {
			clients += n.Connections
		}
	}
	if clients != 600 {
		t.Errorf("%d of 600 clients connected after the switch", clients)
	}
}
