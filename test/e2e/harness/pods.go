package harness

import (
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/test/jobrunner"
)

// AnnotationExitCode finishes a Job pod with that exit code (see hack/kwok/stages.yaml).
const AnnotationExitCode = jobrunner.AnnotationExitCode

// FinishPod ends a running Job pod with an exit code, as its container would: kwok does not run
// containers, so a test that executed the pod's command itself reports the result this way.
func (e *Env) FinishPod(t testing.TB, ns, name string, exitCode int) {
	t.Helper()
	ctx, cancel := Ctx()
	defer cancel()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, AnnotationExitCode, exitCode)
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = ns, name
	if err := e.Client.Patch(ctx, pod, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// Pod reads a pod.
func (e *Env) Pod(t testing.TB, ns, name string) *corev1.Pod {
	t.Helper()
	ctx, cancel := Ctx()
	defer cancel()
	p := &corev1.Pod{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// FindPod reads a pod, or returns nil when it does not exist (for waits that span a pod's
// deletion and its replacement).
func (e *Env) FindPod(t testing.TB, ns, name string) *corev1.Pod {
	t.Helper()
	ctx, cancel := Ctx()
	defer cancel()
	p := &corev1.Pod{}
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
