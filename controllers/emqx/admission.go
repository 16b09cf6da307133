package emqx

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/controllers/pipeline"
)

// admissionProblem explains why a StatefulSet that should have more pods has none to show for it.
// The StatefulSet controller only reports refused pods as Events, so the operator asks the API
// server itself: a dry-run create of the pod the StatefulSet would make runs the same admission
// (Pod Security, ResourceQuota, LimitRange, validation) without creating anything. It is only
// asked when pods are missing, so a healthy cluster costs no request.
func (r *EMQXReconciler) admissionProblem(ctx context.Context, sets ...*appsv1.StatefulSet) (string, string, error) {
	for _, s := range sets {
		if s == nil || s.Status.ObservedGeneration < s.Generation || s.Status.Replicas >= ptr.Deref(s.Spec.Replicas, 1) {
			continue
		}
		pod := podFromTemplate(s, s.Status.Replicas)
		err := r.Client.Create(ctx, pod, client.DryRunAll)
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			continue
		case pipeline.NamespaceTerminating(err):
			return "", "", err // not the pods' fault: the pass ends (see Reconcile)
		case apierrors.IsForbidden(err):
			return "PodsForbidden", fmt.Sprintf("the API server refuses the pods of StatefulSet %s: %s", s.Name, err.Error()), nil
		case apierrors.IsInvalid(err):
			return "PodsInvalid", fmt.Sprintf("the pods of StatefulSet %s are invalid: %s", s.Name, err.Error()), nil
		default:
			return "", "", err
		}
	}
	return "", "", nil
}

func podFromTemplate(s *appsv1.StatefulSet, ordinal int32) *corev1.Pod {
	t := s.Spec.Template.DeepCopy()
	name := fmt.Sprintf("%s-%d", s.Name, ordinal)
	for _, c := range s.Spec.VolumeClaimTemplates {
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + name},
		}})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: t.Labels, Annotations: t.Annotations},
		Spec:       t.Spec,
	}
}

// kubeletRefusal finds pods a kubelet refused to run: the API server admitted them, but the node
// will not. The case that matters is sysctls (spec.tuning.unsafeSysctls on a kubelet without
// --allowed-unsafe-sysctls): the kubelet fails the pod with reason SysctlForbidden, and the
// StatefulSet would recreate it for ever without a word on the cluster.
func kubeletRefusal(pods []corev1.Pod) (string, string) {
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodFailed && p.Status.Reason == "SysctlForbidden" {
			return "SysctlForbidden", fmt.Sprintf("the kubelet on %s refused pod %s: %s; allow these sysctls on the nodes "+
				"(kubelet --allowed-unsafe-sysctls) or set spec.tuning.unsafeSysctls to false",
				orUnknown(p.Spec.NodeName), p.Name, p.Status.Message)
		}
	}
	return "", ""
}

func orUnknown(s string) string {
	if s == "" {
		return "its node"
	}
	return "node " + s
}
