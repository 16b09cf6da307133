package desired

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// dataVolume is the chart's name for the EMQX data volume.
const dataVolume = "emqx-data"

// KeepImmutable makes the desired StatefulSet named like live keep what Kubernetes does not let
// change on a StatefulSet: its selector (the vendor's includes its pod-template-hash), service
// name, pod management policy and claim templates. The pod template gets the selector's labels,
// and the data volume mount takes the live claim template's name, so the pods keep their PVCs
// (<claim>-<statefulset>-<ordinal>).
func KeepImmutable(objs []client.Object, live *appsv1.StatefulSet) {
	for _, o := range objs {
		s, ok := o.(*appsv1.StatefulSet)
		if !ok || s.Name != live.Name {
			continue
		}
		s.Spec.Selector = live.Spec.Selector.DeepCopy()
		s.Spec.ServiceName = live.Spec.ServiceName
		s.Spec.PodManagementPolicy = live.Spec.PodManagementPolicy
		s.Spec.VolumeClaimTemplates = nil
		for _, c := range live.Spec.VolumeClaimTemplates {
			claim := c.DeepCopy()
			claim.Status = corev1.PersistentVolumeClaimStatus{}
			s.Spec.VolumeClaimTemplates = append(s.Spec.VolumeClaimTemplates, *claim)
		}
		if s.Spec.Template.Labels == nil {
			s.Spec.Template.Labels = map[string]string{}
		}
		maps.Copy(s.Spec.Template.Labels, live.Spec.Selector.MatchLabels)
		claim := liveDataClaim(live)
		spec := &s.Spec.Template.Spec
		spec.Volumes = withoutVolume(spec.Volumes, dataVolume)
		if claim == "" {
			// The adopted StatefulSet has no claim for the data: it stays on the pod.
			claim = dataVolume
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: dataVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
		for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
			for i := range cs {
				for j := range cs[i].VolumeMounts {
					if cs[i].VolumeMounts[j].Name == dataVolume {
						cs[i].VolumeMounts[j].Name = claim
					}
				}
			}
		}
	}
}

// liveDataClaim is the claim template the live EMQX container mounts at /opt/emqx/data.
func liveDataClaim(live *appsv1.StatefulSet) string {
	claims := map[string]bool{}
	for _, c := range live.Spec.VolumeClaimTemplates {
		claims[c.Name] = true
	}
	for _, c := range live.Spec.Template.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.MountPath == "/opt/emqx/data" && claims[m.Name] {
				return m.Name
			}
		}
	}
	if len(live.Spec.VolumeClaimTemplates) == 1 {
		return live.Spec.VolumeClaimTemplates[0].Name
	}
	return ""
}

func withoutVolume(vols []corev1.Volume, name string) []corev1.Volume {
	var out []corev1.Volume
	for _, v := range vols {
		if v.Name != name {
			out = append(out, v)
		}
	}
	return out
}
