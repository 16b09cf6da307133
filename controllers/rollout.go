package controllers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// rolloutStep replaces at most one pod that runs an outdated revision and returns what it did.
// The StatefulSets use OnDelete, so this is the only place pods are replaced. Gates, in order:
//   - every wanted node of the cluster is ready and joined: replacing a pod while another is down
//     would take two nodes out at once;
//   - cores before replicants, highest ordinal first.
func (r *EMQXReconciler) rolloutStep(ctx context.Context, e *v2beta1.EMQX, o *status.Observed) (string, error) {
	if !o.CoresReady(e) || (o.ReplicantSet != nil && !o.RoleJoined(e, v2beta1.RoleReplicant, e.ReplicantReplicas())) {
		return "", nil
	}
	for _, set := range []*appsv1.StatefulSet{o.CoreSet, o.ReplicantSet} {
		if set == nil || set.Status.UpdateRevision == "" || set.Status.ObservedGeneration < set.Generation {
			continue
		}
		var outdated []corev1.Pod
		for _, p := range o.PodsOfRole(set.Labels[v2beta1.LabelDBRole]) {
			if p.Labels[appsv1.ControllerRevisionHashLabelKey] != set.Status.UpdateRevision {
				outdated = append(outdated, p)
			}
		}
		if len(outdated) == 0 {
			continue
		}
		sort.Slice(outdated, func(i, j int) bool { return ordinal(outdated[i].Name) > ordinal(outdated[j].Name) })
		pod := outdated[0]
		if err := r.Client.Delete(ctx, &pod, client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("replacing pod %s: %w", pod.Name, err)
		}
		r.Recorder.Eventf(e, &pod, corev1.EventTypeNormal, "RollingUpdate", "ReplacePod",
			"pod %s replaced to run revision %s", pod.Name, set.Status.UpdateRevision)
		return "RollingUpdate", nil
	}
	return "", nil
}

// ordinal is a StatefulSet pod's ordinal (the number after the last dash), -1 if it has none.
func ordinal(pod string) int {
	n, err := strconv.Atoi(pod[strings.LastIndex(pod, "-")+1:])
	if err != nil {
		return -1
	}
	return n
}
