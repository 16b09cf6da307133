// Package desired computes every object a cluster should have, as a pure function of the
// resource and a few observed facts. It makes no API calls; the controller applies the result.
package desired

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/credentials"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// Inputs are the facts the desired state depends on besides the resource.
type Inputs struct {
	// ReplicantsAllowed is true once the core nodes are ready (see values.Inputs).
	ReplicantsAllowed bool
	// OperatorKey is the operator's generated API key.
	OperatorKey credentials.APIKey
	// UserKeys are the spec's bootstrap API keys, with secretRefs resolved.
	UserKeys []credentials.APIKey
	// ScrapeKey is Prometheus's viewer key (spec.monitoring.podMonitor; nil without it).
	ScrapeKey *credentials.APIKey
	// CoreReplicas and ReplicantReplicas override the spec's counts (see values.Inputs).
	CoreReplicas, ReplicantReplicas *int32
	// EMQXConf overrides the ConfigMap's emqx.conf (see values.Inputs).
	EMQXConf *string
	// LicenseKey is the licence pods mount ("" without spec.license): only a key EMQX accepted.
	LicenseKey string
	// TLS is the certificate pods mount (nil without spec.tls): only a pair that validated.
	TLS *TLSFiles
	// ProxyEnv is the operator's proxy environment, passed on to the nodes (see values.Inputs).
	ProxyEnv []corev1.EnvVar
	// AdoptedCore is the live core StatefulSet when it is one the operator adopted (another
	// name than its own): the fields Kubernetes does not let change are kept as they are.
	AdoptedCore *appsv1.StatefulSet
}

// TLSFiles are the PEM files of the operator's TLS Secret.
type TLSFiles struct {
	Cert, Key, CA []byte
}

// Objects returns the objects of a defaulted cluster in apply order, each owned by the cluster.
func Objects(r *render.Renderer, e *v2beta1.EMQX, in Inputs) ([]client.Object, error) {
	objs, err := r.Render(values.FromEMQX(e, values.Inputs{
		ReplicantsAllowed: in.ReplicantsAllowed, CoreReplicas: in.CoreReplicas, ReplicantReplicas: in.ReplicantReplicas,
		EMQXConf: in.EMQXConf, ProxyEnv: in.ProxyEnv,
	}), e.Namespace)
	if err != nil {
		return nil, err
	}
	if in.AdoptedCore != nil {
		KeepImmutable(objs, in.AdoptedCore)
	}
	objs = append(objs, credentials.BootstrapFile(e, in.OperatorKey, in.UserKeys, in.ScrapeKey))
	if e.Spec.License != nil {
		objs = append(objs, credentials.License(e, in.LicenseKey))
	}
	if e.Spec.TLS != nil {
		if in.TLS == nil {
			return nil, fmt.Errorf("spec.tls is set but no validated certificate was given")
		}
		objs = append(objs, credentials.TLS(e, in.TLS.Cert, in.TLS.Key, in.TLS.CA))
	}
	if c := Certificate(e); c != nil {
		objs = append(objs, c)
	}
	owner := OwnerReference(e)
	for _, o := range objs {
		o.SetNamespace(e.Namespace)
		o.SetOwnerReferences([]metav1.OwnerReference{owner})
	}
	render.SortForApply(objs)
	return objs, nil
}

// OwnerReference makes the cluster the controller of an object, so deleting the cluster deletes
// the object (PVCs excepted: they belong to the StatefulSet's retention policy).
func OwnerReference(e *v2beta1.EMQX) metav1.OwnerReference {
	return *metav1.NewControllerRef(e, v2beta1.GroupVersion.WithKind("EMQX"))
}

// Describe names an object for Events and errors: "StatefulSet emqx-core".
func Describe(o client.Object) string {
	return fmt.Sprintf("%s %s", render.KindOf(o), o.GetName())
}
