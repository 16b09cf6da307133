package emqx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/healthpoll"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// observeObjects gathers the cluster's workloads and pods from the cache. It always returns an
// Observed: a failed cache read is recorded in its ReadErr (the pass then waits and the status says
// Ready is unknown), never a nil view.
func (r *EMQXReconciler) observeObjects(ctx context.Context, e *v2beta1.EMQX) *status.Observed {
	o := &status.Observed{}
	var err error
	if o.CoreSet, err = r.statefulSet(ctx, e.Namespace, e.CoreWorkloadName()); err != nil {
		return &status.Observed{ReadErr: err}
	}
	if o.ReplicantSet, err = r.statefulSet(ctx, e.Namespace, e.ReplicantWorkloadName()); err != nil {
		return &status.Observed{ReadErr: err}
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(e.Namespace), pipeline.OfInstance(e.Name), client.MatchingLabels(e.SelectorLabels())); err != nil {
		return &status.Observed{ReadErr: err}
	}
	o.Pods = pods.Items
	sort.Slice(o.Pods, func(i, j int) bool { return o.Pods[i].Name < o.Pods[j].Name })
	return o
}

// readEMQX asks EMQX what the pass's health decision allows (all of it for a cluster that changed or
// converges, one topic or nothing for a stable one) and fills the observed node list from the
// reading. The licence is read by the Served step, after any new key has been sent.
func (r *EMQXReconciler) readEMQX(ctx context.Context, p *pass) {
	o, creds := p.observed, emqxapi.Credentials{Key: p.operatorKey.Key, Secret: p.operatorKey.Secret}
	p.reading = p.health.Last
	switch p.health.Read {
	case healthpoll.Everything, healthpoll.Nodes:
		ans, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, coreEndpoints(o.Pods),
			func(ctx context.Context, c *emqxapi.Client) ([]emqxapi.Node, error) { return c.Nodes(ctx) })
		p.reading.Nodes, p.reading.Answered, p.reading.Unreachable = ans.Value, ans.Endpoint, nil
		for pod := range ans.Failed {
			p.reading.Unreachable = append(p.reading.Unreachable, pod)
		}
		sort.Strings(p.reading.Unreachable)
		o.NodesErr = err
		if err == nil && p.health.Read == healthpoll.Everything {
			o.NodesErr = r.readEvacuations(ctx, p, creds)
		}
	case healthpoll.Evacuations:
		o.NodesErr = r.readEvacuations(ctx, p, creds)
	}
	o.Nodes, o.Answered, o.Unreachable = p.reading.Nodes, p.reading.Answered, p.reading.Unreachable
	p.evacs = p.reading.Evacuations
}

// readEvacuations asks the node that answered the node list. Evacuations matter only while nodes
// are leaving or being replaced, or when one was left behind; asking costs one call.
func (r *EMQXReconciler) readEvacuations(ctx context.Context, p *pass, creds emqxapi.Credentials) error {
	evacs, err := r.EMQXClients(p.reading.Answered.BaseURL, creds).Evacuations(ctx)
	if err != nil && !emqxapi.IsNotFound(err) {
		return fmt.Errorf("reading evacuations: %w", err)
	}
	p.reading.Evacuations = evacs
	return nil
}

func (r *EMQXReconciler) statefulSet(ctx context.Context, ns, name string) (*appsv1.StatefulSet, error) {
	s := &appsv1.StatefulSet{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// coreEndpoints are the ready core pods, which the operator asks in turn: any core knows the whole
// cluster, and asking each in turn keeps the operator working when any one node is lost.
func coreEndpoints(pods []corev1.Pod) []emqxapi.Endpoint {
	var eps []emqxapi.Endpoint
	for i := range pods {
		p := &pods[i]
		if p.Labels[v2beta1.LabelDBRole] != v2beta1.RoleCore || p.Status.PodIP == "" || !status.IsPodReady(p) {
			continue
		}
		eps = append(eps, emqxapi.Endpoint{Pod: p.Name, BaseURL: emqxapi.PodBaseURL(p.Status.PodIP)})
	}
	return eps
}

// splitForeign moves the pods ReplicaSets own (the vendor's replicants; this operator makes only
// StatefulSets) out of o.Pods, and returns them.
func splitForeign(o *status.Observed) []corev1.Pod {
	var ours, foreign []corev1.Pod
	for _, p := range o.Pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "ReplicaSet" {
			foreign = append(foreign, p)
		} else {
			ours = append(ours, p)
		}
	}
	o.Pods = ours
	return foreign
}

// keyRefused reports that EMQX refused the operator's API key (HTTP 401).
func keyRefused(err error) bool {
	var apiErr *emqxapi.Error
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized
}
