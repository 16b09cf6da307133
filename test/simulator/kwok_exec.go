package simulator

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
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
func execObject(p *corev1.Pod, container, ctlURL string) map[string]any {
	return map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Exec",
		"metadata": map[string]any{
			"name": p.Name, "namespace": p.Namespace,
			"ownerReferences": []map[string]any{{"apiVersion": "v1", "kind": "Pod", "name": p.Name, "uid": string(p.UID)}},
		},
		"spec": map[string]any{"execs": []map[string]any{{
			"containers": []string{container},
			"local":      map[string]any{"envs": []map[string]string{{"name": "EMQX_SIM_CTL_URL", "value": ctlURL}}},
		}}},
	}
}

// ensureExec makes the pod's Exec. One left by an earlier pod of the same name is pointed at this
// pod (it would otherwise be garbage-collected with its old owner). Without the Exec CRD (a rig
// that did not enable it) this is logged once and skipped.
func (s *Simulator) ensureExec(ctx context.Context, p *corev1.Pod, node string) {
	c := emqxContainer(p)
	if s.opts.ControlURL == "" || c == nil {
		return
	}
	body, err := json.Marshal(execObject(p, c.Name, s.ctlURL(node)))
	if err != nil {
		return
	}
	rc := s.kc.CoreV1().RESTClient()
	err = rc.Post().AbsPath(execsPath, p.Namespace, "execs").SetHeader("Content-Type", "application/json").
		Body(body).Do(ctx).Error()
	if apierrors.IsAlreadyExists(err) {
		err = rc.Patch(types.MergePatchType).AbsPath(execsPath, p.Namespace, "execs", p.Name).Body(body).Do(ctx).Error()
	}
	switch {
	case err == nil:
	case apierrors.IsNotFound(err):
		s.execCRDMissing.Do(func() {
			s.log.Info("no kwok Exec CRD: `kubectl exec … -- emqx ctl` is not available on this rig", "error", err)
		})
	case ctx.Err() == nil:
		s.log.Warn("creating the pod's kwok Exec", "pod", p.Namespace+"/"+p.Name, "error", err)
	}
}
