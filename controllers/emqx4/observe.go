package emqx4

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/refs"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/emqxapi"
	"github.com/broker-ops/emqx-operator/internal/lifecycle"
	"github.com/broker-ops/emqx-operator/internal/status"
	"github.com/broker-ops/emqx-operator/internal/validation"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// ensureCredentials creates the cluster's cookie and management secret once and returns the
// management application's credentials. An existing Secret is never rewritten.
func (r *Emqx4Reconciler) ensureCredentials(ctx context.Context, c v1beta2.Cluster) (emqxapi.Credentials, *validation.Problem, error) {
	gen, err := credentials.Emqx4Generated(c, credentials.Reader)
	if err != nil {
		return emqxapi.Credentials{}, nil, err
	}
	live, err := refs.EnsureGeneratedSecret(ctx, r.Client, r.APIReader, r.Recorder, c, *metav1.NewControllerRef(c, v1beta2.GroupVersion.WithKind(r.Kind)), gen)
	if err != nil {
		return emqxapi.Credentials{}, nil, err
	}
	if prob := refs.SecretNotOurs(gen, live); prob != nil {
		return emqxapi.Credentials{}, prob, nil
	}
	return emqxapi.Credentials{Key: string(live.Data[values.Emqx4ManagementIDKey]), Secret: string(live.Data[values.Emqx4ManagementSecretK])}, nil, nil
}

// licenseSource is the licence file the spec asks for (nil: none, EMQX's own).
func (r *Emqx4Reconciler) licenseSource(ctx context.Context, c v1beta2.Cluster, p *pass4) ([]byte, *validation.Problem, error) {
	inline, secretName := c.LicenseSource()
	if inline != "" {
		return []byte(inline), nil, nil
	}
	if secretName == "" {
		return nil, nil, nil
	}
	s, unwatched, err := refs.UserSecret(ctx, r.Client, r.APIReader, c.GetNamespace(), secretName)
	if unwatched {
		// Labelled watched once the steps are done (refs.WatchSecrets).
		p.unwatched = append(p.unwatched, s)
	}
	if err != nil {
		return nil, nil, err
	}
	if s == nil {
		return nil, &validation.Problem{Reason: validation.ReasonLicenseNotFound, Retry: true, Message: fmt.Sprintf(
			"spec.emqxTemplate.licenseSecretName: Secret %s not found in namespace %s", secretName, c.GetNamespace())}, nil
	}
	lic := s.Data[v1beta2.LicenseKey]
	if len(strings.TrimSpace(string(lic))) == 0 {
		return nil, &validation.Problem{Reason: validation.ReasonLicenseNotFound, Retry: true, Message: fmt.Sprintf(
			"spec.emqxTemplate.licenseSecretName: Secret %s has no key %s", secretName, v1beta2.LicenseKey)}, nil
	}
	return lic, nil, nil
}

// observe reads the StatefulSet and pods from the cache and the cluster's view of its nodes from
// the first ready pod that answers GET /api/v4/nodes.
func (r *Emqx4Reconciler) observe(ctx context.Context, c v1beta2.Cluster, creds emqxapi.Credentials, p *pass4) error {
	set := &appsv1.StatefulSet{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.GetNamespace(), Name: v1beta2.StatefulSetName(c)}, set)
	switch {
	case apierrors.IsNotFound(err):
		set = nil
	case err != nil:
		return err
	}
	p.set = set
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(c.GetNamespace()), client.MatchingLabels(values.SelectorLabels4(c))); err != nil {
		return err
	}
	p.pods = pods.Items
	sort.Slice(p.pods, func(i, j int) bool { return p.pods[i].Name < p.pods[j].Name })
	ans, err := emqxapi.FirstAnswer(ctx, r.EMQXClients, creds, readyEndpointsV4(p.pods, p.listener.Ports.API),
		func(ctx context.Context, cl *emqxapi.Client) ([]emqxapi.NodeV4, error) { return cl.NodesV4(ctx) })
	p.nodes, p.nodesErr = ans.Value, err
	return nil
}

// readyEndpointsV4 are the management APIs of the ready pods, reached by pod IP.
func readyEndpointsV4(pods []corev1.Pod, port int32) []emqxapi.Endpoint {
	var eps []emqxapi.Endpoint
	for i := range pods {
		if pods[i].Status.PodIP != "" && status.IsPodReady(&pods[i]) {
			eps = append(eps, emqxapi.Endpoint{Pod: pods[i].Name, BaseURL: emqxapi.PodBaseURLV4(pods[i].Status.PodIP, port)})
		}
	}
	return eps
}

// lifecycleState4 puts an EMQX 4 cluster into the lifecycle layer's terms: one core role, nodes
// named as EMQX nodes of a cluster of that name and headless Service, no evacuation, no invite.
func lifecycleState4(c v1beta2.Cluster, p *pass4) lifecycle.State {
	spec := p.spec
	shadow := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: c.GetName(), Namespace: c.GetNamespace()},
		Spec: v2beta1.EMQXSpec{Image: spec.Image, ClusterDomain: v1beta2.ClusterDomain}}
	shadow.Spec.CoreTemplate.Spec.Replicas = spec.Replicas
	shadow.Default()
	s := lifecycle.State{
		Cluster:      shadow,
		Core:         lifecycle.Role{Name: v2beta1.RoleCore, Set: p.set, Want: *spec.Replicas, Pods: p.pods},
		NodesKnown:   p.nodesErr == nil,
		Now:          time.Now(),
		NoEvacuation: "EMQX 4.4 nodes are stopped without an evacuation",
		NoInvite:     true,
	}
	for _, n := range p.nodes {
		s.Nodes = append(s.Nodes, emqxapi.Node{Node: n.Node, NodeStatus: strings.ToLower(n.NodeStatus), Role: v2beta1.RoleCore,
			Version: n.Version, Connections: n.Connections})
	}
	return s
}

// allNodesRunning: every wanted pod is Ready and its node runs in the cluster.
func allNodesRunning(c v1beta2.Cluster, p *pass4) bool { return p.observed().AllNodesRunning(c) }

// nameTaken refuses a cluster whose name an older cluster of another kind (EMQX, EmqxEnterprise,
// EmqxBroker) already uses in the namespace: both would claim the same headless Service and pods
// labelled with the same instance name.
func (r *Emqx4Reconciler) nameTaken(ctx context.Context, c v1beta2.Cluster) (*validation.Problem, error) {
	kind, err := refs.OlderSameName(ctx, r.Client, c, r.Kind)
	if err != nil || kind == "" {
		return nil, err
	}
	return refs.NameInUse(kind, c), nil
}
