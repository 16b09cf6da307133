package simulator

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// kwok runs `kubectl exec` as a local command of the kwok-controller when an Exec object
// (kwok.x-k8s.io/v1alpha1, named after the pod) exists for the pod; hack/cluster.sh enables the
// Exec CRD and puts test/simulator/cmd/emqx first on kwok's PATH. The Exec gives that command
// EMQX_SIM_CTL_URL, the control API's ctl endpoint for the pod's node, so
// `kubectl exec <pod> -c emqx -- emqx ctl plugins allow …` runs on the simulated node.

const execsPath = "/apis/kwok.x-k8s.io/v1alpha1/namespaces"

// ctlURL is the control API's ctl endpoint for a node.
func (s *Simulator) ctlURL(node string) string {
	return strings.TrimRight(s.opts.ControlURL, "/") + "/sim/nodes/" + url.PathEscape(node) + "/ctl"
}

// execObject is the pod's Exec: owned by the pod, so the garbage collector deletes it with the pod.
func execObject(p *corev1.Pod, execs []map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Exec",
		"metadata": map[string]any{
			"name": p.Name, "namespace": p.Namespace,
			"ownerReferences": []map[string]any{{"apiVersion": "v1", "kind": "Pod", "name": p.Name, "uid": string(p.UID)}},
		},
		"spec": map[string]any{"execs": execs},
	}
}

// ensureExec makes an EMQX pod's Exec, whose commands reach the pod's node through the control API.
func (s *Simulator) ensureExec(ctx context.Context, p *corev1.Pod, node string) {
	c := emqxContainer(p)
	if s.opts.ControlURL == "" || c == nil {
		return
	}
	s.putExec(ctx, p, []map[string]any{{
		"containers": []string{c.Name},
		"local":      map[string]any{"envs": []map[string]string{{"name": "EMQX_SIM_CTL_URL", "value": s.ctlURL(node)}}},
	}})
}

// ensureClaimExec gives a pod that is not EMQX an Exec for each container whose working directory
// is on a mounted claim: its commands run in the claim's local directory, as they would in the
// container (`kubectl exec <pod> -- cat pkg.tar.gz` reads <VolumesDir>/<ns>/<claim>/pkg.tar.gz).
// Commands are the host's own (cat, sh): the images such pods run provide the same.
func (s *Simulator) ensureClaimExec(ctx context.Context, p *corev1.Pod) {
	if s.opts.VolumesDir == "" || p.DeletionTimestamp != nil || p.Spec.NodeName == "" {
		return
	}
	if _, done := s.claimExecs.Load(p.UID); done {
		return
	}
	var execs []map[string]any
	for _, c := range p.Spec.Containers {
		dir, ok := s.claimDirOf(p, c)
		if !ok {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.log.Warn("making a claim's directory", "dir", dir, "error", err)
			return
		}
		execs = append(execs, map[string]any{"containers": []string{c.Name}, "local": map[string]any{"workDir": dir}})
	}
	if len(execs) == 0 {
		return
	}
	if s.putExec(ctx, p, execs) {
		s.claimExecs.Store(p.UID, true)
	}
}

func (s *Simulator) forgetClaimExec(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if p, ok := o.(*corev1.Pod); ok {
		s.claimExecs.Delete(p.UID)
	}
}

// claimDirOf is the local directory of a container's working directory when it is on a claim.
func (s *Simulator) claimDirOf(p *corev1.Pod, c corev1.Container) (string, bool) {
	if c.WorkingDir == "" {
		return "", false
	}
	wd := path.Clean(c.WorkingDir)
	for _, m := range c.VolumeMounts {
		mp := path.Clean(m.MountPath)
		rest, ok := strings.CutPrefix(wd, mp)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.Name != m.Name || v.PersistentVolumeClaim == nil {
				continue
			}
			return filepath.Join(s.opts.VolumesDir, p.Namespace, v.PersistentVolumeClaim.ClaimName, m.SubPath, rest), true
		}
	}
	return "", false
}

// putExec creates the pod's Exec. One left by an earlier pod of the same name is pointed at this
// pod (it would otherwise be garbage-collected with its old owner). Without the Exec CRD (a rig
// that did not enable it) this is logged once and skipped. It says whether the Exec is there.
func (s *Simulator) putExec(ctx context.Context, p *corev1.Pod, execs []map[string]any) bool {
	body, err := json.Marshal(execObject(p, execs))
	if err != nil {
		return false
	}
	rc := s.kc.CoreV1().RESTClient()
	err = rc.Post().AbsPath(execsPath, p.Namespace, "execs").SetHeader("Content-Type", "application/json").
		Body(body).Do(ctx).Error()
	if apierrors.IsAlreadyExists(err) {
		err = rc.Patch(types.MergePatchType).AbsPath(execsPath, p.Namespace, "execs", p.Name).Body(body).Do(ctx).Error()
	}
	switch {
	case err == nil:
		return true
	case apierrors.IsNotFound(err):
		s.execCRDMissing.Do(func() {
			s.log.Info("no kwok Exec CRD: `kubectl exec` is not available on this rig", "error", err)
		})
	case ctx.Err() == nil:
		s.log.Warn("creating the pod's kwok Exec", "pod", p.Namespace+"/"+p.Name, "error", err)
	}
	return false
}
