package e2e

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

// The rig's pod lifecycle follows the simulated node (hack/kwok/stages.yaml); later features rely
// on each of these behaviours.

func TestRigUnknownImageNeverBecomesReady(t *testing.T) {
	ns := env.NewNamespace(t)
	e := coreReplicantCluster(ns, "broken", 1, 0)
	e.Spec.Image = "emqx/emqx:broken"
	create(t, e)
	pod := "broken-core-0"
	harness.Eventually(t, 30*time.Second, "ImagePullBackOff", func() error {
		p := &corev1.Pod{}
		ctx, cancel := harness.Ctx()
		defer cancel()
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pod}, p); err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
			p.Status.ContainerStatuses[0].State.Waiting.Reason != "ImagePullBackOff" {
			return fmt.Errorf("container status %+v", p.Status.ContainerStatuses)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if harness.PodReady(env.Pod(t, ns, pod)) {
		t.Error("a pod with an unknown image became Ready")
	}
	got := env.GetEMQX(t, ns, "broken")
	if got.Status.Phase == "Ready" {
		t.Errorf("cluster Ready with no node running")
	}
}

func TestRigReadinessFollowsTheNodeStatus(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, coreReplicantCluster(ns, "health", 1, 0))
	env.WaitForCondition(t, ns, "health", v2beta1.Ready, metav1.ConditionTrue, 60*time.Second)
	node := "emqx@health-core-0.health-headless." + ns + ".svc.cluster.local"

	if err := env.Sim.SetFaults(node, simulator.Faults{Unhealthy: true}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 20*time.Second, "pod unready while /status answers 503", func() error {
		if harness.PodReady(env.Pod(t, ns, "health-core-0")) {
			return fmt.Errorf("still ready")
		}
		return nil
	})
	if err := env.Sim.SetFaults(node, simulator.Faults{}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 20*time.Second, "pod ready again", func() error {
		if !harness.PodReady(env.Pod(t, ns, "health-core-0")) {
			return fmt.Errorf("not ready")
		}
		return nil
	})
}

// TestRigGracefulDeletionWaitsForTheNode: a deleted EMQX pod goes once the simulated node has
// stopped (well before its grace period), and the node shows as stopped in the cluster.
func TestRigGracefulDeletionWaitsForTheNode(t *testing.T) {
	ns := env.NewNamespace(t)
	create(t, coreReplicantCluster(ns, "grace", 2, 0))
	env.WaitForCondition(t, ns, "grace", v2beta1.Ready, metav1.ConditionTrue, 60*time.Second)
	pod := env.Pod(t, ns, "grace-core-1")
	ctx, cancel := harness.Ctx()
	defer cancel()
	start := time.Now()
	if err := env.Client.Delete(ctx, pod, client.GracePeriodSeconds(120)); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "pod removed after the node stopped", func() error {
		p := &corev1.Pod{}
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), p)
		if apierrors.IsNotFound(err) || (err == nil && p.UID != pod.UID) {
			return nil
		}
		if err == nil && p.DeletionTimestamp != nil {
			return fmt.Errorf("terminating, node not stopped yet")
		}
		return fmt.Errorf("pod still there: %v", err)
	})
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("deletion took %s: it waited for the grace period instead of the node's stop", took)
	}
}

// TestRigJobPodsFinishWhenTheTestSaysSo: a Job's pod runs until the test reports its exit code.
func TestRigJobPodsFinishWhenTheTestSaysSo(t *testing.T) {
	ns := env.NewNamespace(t)
	for _, code := range []int{0, 3} {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("job-%d", code)},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "main", Image: "example/backup:1", Command: []string{"/manager", "backup"}}},
			}}},
		}
		create(t, job)
		var podName string
		harness.Eventually(t, 30*time.Second, "job pod running", func() error {
			pods := &corev1.PodList{}
			ctx, cancel := harness.Ctx()
			defer cancel()
			if err := env.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"job-name": job.Name}); err != nil {
				return err
			}
			if len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pods %d", len(pods.Items))
			}
			podName = pods.Items[0].Name
			return nil
		})
		time.Sleep(2 * time.Second)
		if p := env.Pod(t, ns, podName); p.Status.Phase != corev1.PodRunning {
			t.Fatalf("job pod finished on its own: %s", p.Status.Phase)
		}
		env.FinishPod(t, ns, podName, code)
		want := batchv1.JobComplete
		if code != 0 {
			want = batchv1.JobFailed
		}
		harness.Eventually(t, 30*time.Second, "job "+string(want), func() error {
			j := &batchv1.Job{}
			ctx, cancel := harness.Ctx()
			defer cancel()
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), j); err != nil {
				return err
			}
			for _, c := range j.Status.Conditions {
				if c.Type == want && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", j.Status.Conditions)
		})
		if code != 0 {
			p := env.Pod(t, ns, podName)
			if st := p.Status.ContainerStatuses; len(st) == 0 || st[0].State.Terminated == nil || st[0].State.Terminated.ExitCode != int32(code) {
				t.Errorf("container status %+v, want exit code %d", st, code)
			}
		}
	}
}

// TestRigNodeNotReadyFollowsItsLabel: a fake node labelled sim.emqx.io/not-ready=true reports
// Ready=False and is tainted not-ready by the node controller; without the label it is Ready and
// untainted again (the chaos harness's node-not-ready fault). The node is the test's own, tainted
// so that no other test's pod lands on it.
func TestRigNodeNotReadyFollowsItsLabel(t *testing.T) {
	name := "rig-not-ready"
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels: map[string]string{"type": "kwok"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "rig-test", Effect: corev1.TaintEffectNoSchedule}}}}
	create(t, node)
	t.Cleanup(func() { _ = env.Kubectl("delete", "node", name, "--ignore-not-found") })
	readiness := func(want corev1.ConditionStatus, tainted bool) func() error {
		return func() error {
			n := &corev1.Node{}
			ctx, cancel := harness.Ctx()
			defer cancel()
			if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
				return err
			}
			var ready corev1.ConditionStatus
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					ready = c.Status
				}
			}
			hasTaint := false
			for _, taint := range n.Spec.Taints {
				hasTaint = hasTaint || taint.Key == corev1.TaintNodeNotReady
			}
			if ready != want || hasTaint != tainted {
				return fmt.Errorf("Ready=%q, not-ready taint %v", ready, hasTaint)
			}
			return nil
		}
	}
	harness.Eventually(t, 30*time.Second, "the new node Ready", readiness(corev1.ConditionTrue, false))
	if err := env.Kubectl("label", "node", name, "sim.emqx.io/not-ready=true"); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the labelled node NotReady and tainted", readiness(corev1.ConditionFalse, true))
	if err := env.Kubectl("label", "node", name, "sim.emqx.io/not-ready-"); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the node Ready again and untainted", readiness(corev1.ConditionTrue, false))
}
