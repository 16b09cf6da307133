package chaose2e

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
	"github.com/broker-ops/emqx-operator/test/chaos"
	"github.com/broker-ops/emqx-operator/test/simulator"
)

// sample reads the ground truth of every cluster of a run: five lists from the API server and
// the simulator's nodes (the run owns the local cluster: nothing else is listed). A read that fails (the API server is being restarted) skips the sample.
func sample(ctx context.Context, clusters map[string]string) (*chaos.Sample, error) {
	at := time.Now()
	var (
		emqxs   v2beta1.EMQXList
		sets    appsv1.StatefulSetList
		pods    corev1.PodList
		pvcs    corev1.PersistentVolumeClaimList
		secrets corev1.SecretList
	)
	// Pods before StatefulSets: a deletion seen in the pods is then judged against an update
	// revision at least as new as the one the operator acted on.
	// Pods first, then the rest together: a sample takes one round trip, not six.
	if err := env.Client.List(ctx, &pods); err != nil {
		return nil, err
	}
	var (
		nodes []simulator.NodeView
		g     errgroup.Group
	)
	for _, l := range []client.ObjectList{&emqxs, &sets, &pvcs, &secrets} {
		g.Go(func() error { return env.Client.List(ctx, l) })
	}
	g.Go(func() (err error) { nodes, err = env.Sim.Nodes(); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	s := &chaos.Sample{At: at, Done: time.Now(), Clusters: map[string]*chaos.ClusterView{}}
	for ns, name := range clusters {
		s.Clusters[ns+"/"+name] = &chaos.ClusterView{Want: map[string]int32{}, Sets: map[string]chaos.SetView{},
			Pods: map[string]chaos.PodView{}, Nodes: map[string]chaos.NodeView{}, PVCs: map[string]string{}}
	}
	view := func(ns string) *chaos.ClusterView { return s.Clusters[ns+"/"+clusters[ns]] }
	for i := range emqxs.Items {
		e := &emqxs.Items[i]
		cv := view(e.Namespace)
		if cv == nil || e.Name != clusters[e.Namespace] {
			continue
		}
		cv.Ready = meta.IsStatusConditionTrue(e.Status.Conditions, v2beta1.Ready)
		cv.Paused = e.Annotations[v2beta1.PauseAnnotation] == "true"
		cv.Want[v2beta1.RoleCore] = *e.Spec.CoreTemplate.Spec.Replicas
		if e.Spec.ReplicantTemplate != nil && e.Spec.ReplicantTemplate.Spec.Replicas != nil {
			cv.Want[v2beta1.RoleReplicant] = *e.Spec.ReplicantTemplate.Spec.Replicas
		}
	}
	for i := range sets.Items {
		st := &sets.Items[i]
		if cv := view(st.Namespace); cv != nil && st.Spec.Replicas != nil {
			cv.Sets[roleOfSet(clusters[st.Namespace], st.Name)] = chaos.SetView{Replicas: *st.Spec.Replicas, UpdateRevision: st.Status.UpdateRevision}
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		cv := view(p.Namespace)
		role := p.Labels[v2beta1.LabelDBRole]
		if cv == nil || role == "" {
			continue
		}
		cv.Pods[p.Name] = chaos.PodView{UID: string(p.UID), Role: role, Ordinal: lifecycle.Ordinal(p.Name),
			Revision: p.Labels[appsv1.ControllerRevisionHashLabelKey], Release: releaseOf(p), Created: p.CreationTimestamp.Time,
			Terminating: p.DeletionTimestamp != nil}
	}
	for i := range pvcs.Items {
		if cv := view(pvcs.Items[i].Namespace); cv != nil {
			cv.PVCs[pvcs.Items[i].Name] = string(pvcs.Items[i].UID)
		}
	}
	for i := range secrets.Items {
		sec := &secrets.Items[i]
		if cv := view(sec.Namespace); cv != nil && sec.Name == clusters[sec.Namespace]+"-operator-api-key" {
			cv.APIKeySecret = string(sec.UID)
		}
	}
	for _, n := range nodes {
		ns, pod, ok := strings.Cut(n.Pod, "/")
		cv := view(ns)
		if !ok || cv == nil {
			continue
		}
		cv.Nodes[pod] = chaos.NodeView{Running: n.State == "running", Evacuating: n.Evacuation != "", Connections: n.Connections}
	}
	return s, nil
}

func roleOfSet(cluster, set string) string {
	return strings.TrimPrefix(set, cluster+"-")
}

// releaseOf is the EMQX release of the pod's EMQX container ("" when its image says none).
func releaseOf(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if v := upgradepath.OfImage(c.Image); c.Name == lifecycle.EMQXContainer && v.Known() {
			return v.String()
		}
	}
	return ""
}
