package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/render"
	"github.com/broker-ops/emqx-operator/internal/values"
)

// Emqx4Inputs are the facts an EMQX 4 cluster's desired state depends on besides the resource.
type Emqx4Inputs struct {
	// Replicas overrides the spec's count (a scale-in step).
	Replicas *int32
	// License is the licence file the pods mount (nil: none): only one EMQX accepted, once the
	// cluster runs, so a node that restarts never reads a licence the cluster refused.
	License []byte
	// ProxyEnv is the operator's proxy environment, passed on to the nodes.
	ProxyEnv []corev1.EnvVar
}

// Emqx4Objects returns the objects of an EmqxEnterprise or EmqxBroker in apply order, each
// owned by it.
func Emqx4Objects(r *render.Renderer, c v1beta2.Cluster, gvk string, in Emqx4Inputs) ([]client.Object, error) {
	files, err := values.Emqx4FileContents(c)
	if err != nil {
		return nil, err
	}
	certs, err := emqx4CertSecrets(c)
	if err != nil {
		return nil, err
	}
	objs, err := r.Render(values.FromEmqx4(c, values.Emqx4Inputs{
		Replicas: in.Replicas, License: in.License != nil, Files: values.Emqx4FilesOf(files),
		FilesChecksum: restartInputsChecksum(files), ProxyEnv: in.ProxyEnv,
	}), c.GetNamespace())
	if err != nil {
		return nil, err
	}
	labels := values.SelectorLabels4(c)
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: c.GetNamespace(), Labels: maps.Clone(labels)}
	}
	if len(files) > 0 {
		objs = append(objs, &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: meta(v1beta2.FilesConfigMapName(c)), Data: files})
	}
	if in.License != nil {
		s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: meta(v1beta2.LicenseSecretName(c)), Data: map[string][]byte{v1beta2.LicenseKey: in.License}}
		s.Labels[v2beta1.LabelWatched] = "true"
		objs = append(objs, s)
	}
	for _, cert := range certs {
		cert.secret.Labels[v2beta1.LabelWatched] = "true" // the apply loop compares with the cached copy
		objs = append(objs, cert.secret)
	}
	if c.Common().ServiceAccountName == "" {
		objs = append(objs, discoveryRBAC(c, meta)...)
	}
	owner := *metav1.NewControllerRef(c, v1beta2.GroupVersion.WithKind(gvk))
	for _, o := range objs {
		o.SetNamespace(c.GetNamespace())
		o.SetOwnerReferences([]metav1.OwnerReference{owner})
	}
	render.SortForApply(objs)
	return objs, nil
}

// discoveryRBAC lets the cluster's own ServiceAccount read endpoints in its namespace, which is
// all EMQX 4's Kubernetes discovery asks the API server for.
func discoveryRBAC(c v1beta2.Cluster, meta func(string) metav1.ObjectMeta) []client.Object {
	name := c.GetName()
	role := &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta(name + "-discovery"),
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"endpoints"}, Verbs: []string{"get", "list", "watch"}}}}
	binding := &rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta(name + "-discovery"),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: c.GetNamespace()}}}
	return []client.Object{role, binding}
}

// emqx4Cert is one TLS listener's certificate Secret.
type emqx4Cert struct {
	listener string // EMQX 4's listener name
	secret   *corev1.Secret
}

// emqx4CertSecrets holds spec.emqxTemplate.listener.certificate, one Secret per TLS listener.
func emqx4CertSecrets(c v1beta2.Cluster) ([]emqx4Cert, error) {
	var out []emqx4Cert
	for _, l := range c.Template().Listener.Certificate.TLSListeners() {
		data := l.Certificate.Files()
		for _, k := range []string{"tls.crt", "tls.key"} {
			if len(data[k]) == 0 {
				return nil, fmt.Errorf("spec.emqxTemplate.listener.certificate.%s has no %s", l.Name, k)
			}
		}
		if len(data["ca.crt"]) == 0 {
			// EMQX 4 needs a readable cacertfile; the chain stands in for a missing CA.
			data["ca.crt"] = data["tls.crt"]
		}
		out = append(out, emqx4Cert{listener: l.EMQXName, secret: &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: v1beta2.CertSecretName(c, l.Name), Namespace: c.GetNamespace(),
				Labels: values.SelectorLabels4(c)},
			Type: corev1.SecretTypeTLS, Data: data}})
	}
	return out, nil
}

// restartInputsChecksum identifies the files EMQX 4 reads only at start-up besides its env. It
// goes on the pod template, so a change rolls the pods. Certificates are not in it: a listener
// re-reads its files when it is restarted, which the operator does instead (see Emqx4Certificates).
func restartInputsChecksum(files map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s\x00%s\x00", k, files[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Emqx4Certificates are the revisions of the TLS listeners' certificates the spec gives, by EMQX 4
// listener name (mqtt:ssl:external, mqtt:wss:external).
func Emqx4Certificates(c v1beta2.Cluster) (map[string]string, error) {
	certs, err := emqx4CertSecrets(c)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, cert := range certs {
		h := sha256.New()
		for _, k := range slices.Sorted(maps.Keys(cert.secret.Data)) {
			fmt.Fprintf(h, "%s\x00%s\x00", k, cert.secret.Data[k])
		}
		out[cert.listener] = hex.EncodeToString(h.Sum(nil))[:16]
	}
	return out, nil
}
