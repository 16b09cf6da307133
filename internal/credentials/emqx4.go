package credentials

import (
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// Emqx4ManagementID is the id of the management application the operator uses on EMQX 4 nodes.
const Emqx4ManagementID = "emqx-operator"

// Emqx4Generated is an EMQX 4 cluster's generated Secret: the Erlang cookie and the default
// management application's secret, which is how the operator authenticates to /api/v4. It is
// made once and never rewritten: a new cookie would split the cluster.
func Emqx4Generated(c v1beta2.Cluster, rnd io.Reader) (*corev1.Secret, error) {
	cookie, err := randomString(rnd, 32)
	if err != nil {
		return nil, err
	}
	secret, err := randomString(rnd, 32)
	if err != nil {
		return nil, err
	}
	labels := values.SelectorLabels4(c)
	labels[LabelGenerated] = "true"
	labels[v2beta1.LabelWatched] = "true"
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: v1beta2.CredentialsSecretName(c), Namespace: c.GetNamespace(), Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Data: toBytes(map[string]string{values.Emqx4CookieKey: cookie, values.Emqx4ManagementIDKey: Emqx4ManagementID,
			values.Emqx4ManagementSecretK: secret}),
	}, nil
}
