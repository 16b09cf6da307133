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
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// observe gathers the cluster's workloads and pods from the cache and the node list from EMQX. It
// always returns an Observed: a failed cache read is recorded in its ReadErr (the pass then waits and
// the status says Ready is unknown), never a nil view.
func (r *EMQXReconciler) observe(ctx context.Context, e *v2beta1.EMQX, key credentials.APIKey) (*status.Observed, []emqxapi.Evacuation) {
	o := &status.Observed{}
	var err error
	if o.CoreSet, err = r.statefulSet(ctx, e.Namespace, e.CoreWorkloadName()); err != nil {
		return &status.Observed{ReadErr: err}, nil
	}
	if o.ReplicantSet, err = r.statefulSet(ctx, e.Namespace, e.ReplicantWorkloadName()); err != nil {
		return &status.Observed{ReadErr: err}, nil
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(e.Namespace), client.MatchingLabels(e.SelectorLabels())); err != nil {
		return &status.Observed{ReadErr: err}, nil
	}
	o.Pods = pods.Items
	sort.Slice(o.Pods, func(i, j int) bool { return o.Pods[i].Name < o.Pods[j].Name })

	creds := emqxapi.Credentials{Key: key.Key, Secret: key.Secret}
	ans, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, coreEndpoints(o.Pods),
		func(ctx context.Context, c *emqxapi.Client) ([]emqxapi.Node, error) { return c.Nodes(ctx) })
	o.Nodes, o.NodesErr, o.Answered = ans.Value, err, ans.Endpoint
	for pod := range ans.Failed {
		o.Unreachable = append(o.Unreachable, pod)
	}
	sort.Strings(o.Unreachable)
	if err != nil {
		return o, nil
	}
	// Evacuations matter only while nodes are leaving or being replaced, or when one was left
	// behind; asking costs one call to the node that just answered.
	evacs, err := r.EMQXClients(ans.Endpoint.BaseURL, creds).Evacuations(ctx)
	if err != nil && !emqxapi.IsNotFound(err) {
		o.NodesErr = fmt.Errorf("reading evacuations: %w", err)
	}
	return o, evacs
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
