package emqx

import (
	"context"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/dsrepl"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
	"github.com/broker-ops/emqx-operator/internal/validation"
)

// upgradePath checks an image change against EMQX's rolling-upgrade paths before anything is
// applied: a path EMQX does not support in place (5.x with durable sessions to 6.x, a rollback
// across 6.1.1's durable-storage change, …) would lose data or wedge the cluster halfway, and no
// pod may move for it. A refusal is a spec error naming the rule; the user fixes the image or
// accepts the risk for that release (upgradepath.AcceptAnnotation). A path with a known
// limitation rolls, with a Warning Event from the pass that changes the StatefulSet's image.
func (r *EMQXReconciler) upgradePath(ctx context.Context, p *pass) (pipeline.Outcome, error) {
	from, changed := runningRelease(p.observed, p.e.Spec.Image)
	if !changed {
		return pipeline.Next(), nil // a new cluster, or every node already runs the spec's image
	}
	ds, err := r.durableSessions(ctx, p)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	v := upgradepath.Decide(upgradepath.Change{
		From: from, To: upgradepath.OfImage(p.e.Spec.Image),
		DurableSessions: ds, Accepted: p.e.Annotations[upgradepath.AcceptAnnotation],
	})
	if v.Refused {
		return r.rejectSpec(p.e, p, &validation.Problem{Reason: v.Rule, Message: "image " + p.e.Spec.Image + ": " + v.Message}), nil
	}
	if v.Warning && upgradepath.Reference(emqxImage(p.observed.CoreSet, p.e.Spec.Image)) != upgradepath.Reference(p.e.Spec.Image) {
		p.upgradeNotice = &v // this pass changes the template: the Apply step tells once
	}
	return pipeline.Next(), nil
}

// runningRelease is the oldest EMQX release the cluster runs (its workloads' templates, its pods'
// containers and the versions EMQX reports; zero when none is a release), and whether anything
// runs an image other than spec's. Mid-rollout the oldest counts: 5.3 → 5.9 → 5.10 in quick
// succession is judged from 5.3, and a rollback to what half the nodes still run is no change.
// A new cluster (no workload, no pod, no node) runs nothing.
func runningRelease(o *status.Observed, specImage string) (upgradepath.Version, bool) {
	var images []string
	for _, s := range []*appsv1.StatefulSet{o.CoreSet, o.ReplicantSet} {
		if img := emqxImage(s, specImage); img != "" {
			images = append(images, img)
		}
	}
	for i := range o.Pods {
		if img := emqxContainerImage(o.Pods[i].Spec.Containers, specImage); img != "" {
			images = append(images, img)
		}
	}
	var oldest upgradepath.Version
	changed := false
	older := func(v upgradepath.Version) {
		if v.Known() && (!oldest.Known() || v.Less(oldest)) {
			oldest = v
		}
	}
	for _, img := range images {
		changed = changed || upgradepath.Reference(img) != upgradepath.Reference(specImage)
		older(upgradepath.OfImage(img))
	}
	for _, n := range o.Nodes {
		v, _ := upgradepath.Parse(n.Version)
		older(v)
	}
	return oldest, changed
}

// emqxImage is the image of the EMQX container of a live workload ("" without one).
func emqxImage(s *appsv1.StatefulSet, specImage string) string {
	if s == nil {
		return ""
	}
	return emqxContainerImage(s.Spec.Template.Spec.Containers, specImage)
}

// emqxContainerImage finds EMQX among containers: the one named emqx (this operator's and the
// vendor's name), else one of the spec image's repository; never a sidecar.
func emqxContainerImage(cs []corev1.Container, specImage string) string {
	for _, c := range cs {
		if c.Name == lifecycle.EMQXContainer {
			return c.Image
		}
	}
	for _, c := range cs {
		if repository(c.Image) == repository(specImage) {
			return c.Image
		}
	}
	return ""
}

// repository is an image's last path element without tag or digest ("emqx-enterprise").
func repository(image string) string {
	ref := upgradepath.Reference(image)
	if i := strings.IndexAny(ref, ":@"); i >= 0 {
		return ref[:i]
	}
	return ref
}

// durableSessions: durable sessions are on in the spec or in what the nodes run (the
// ConfigMap they read, the live core template's environment). Data written by durable sessions
// stays on disk when they are turned off in the same edit, so either counts.
func (r *EMQXReconciler) durableSessions(ctx context.Context, p *pass) (bool, error) {
	on := dsrepl.DurableSessionsIn(p.e.Spec.Config.Data, p.e.Spec.CoreTemplate.Spec.Env)
	var env []corev1.EnvVar
	if s := p.observed.CoreSet; s != nil {
		for _, c := range s.Spec.Template.Spec.Containers {
			env = append(env, c.Env...)
		}
	}
	cm := &corev1.ConfigMap{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: p.e.Namespace, Name: p.e.ConfigMapName()}, cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	return on || dsrepl.DurableSessionsIn(cm.Data["emqx.conf"], env), nil
}

// upgradeNoticeEvent tells once, from the pass that changed the StatefulSet's image, about a
// supported path's limitation.
func (r *EMQXReconciler) upgradeNoticeEvent(e *v2beta1.EMQX, v *upgradepath.Verdict) {
	r.Recorder.Eventf(e, nil, corev1.EventTypeWarning, v.Rule, "Upgrade", "image %s: %s", e.Spec.Image, v.Message)
}
