package desired

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// CertificateGVK is cert-manager's Certificate. The operator builds it as unstructured data so
// it needs neither cert-manager's Go module nor its CRDs unless a cluster asks for it.
var CertificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// Certificate is the cert-manager Certificate for spec.tls.certManager (nil without it). cert-manager
// issues into TLSSourceSecretName, labelled watched so the operator's Secret cache sees it; the
// operator validates what is issued before the nodes get it, as for a user's Secret.
func Certificate(e *v2beta1.EMQX) *unstructured.Unstructured {
	if e.Spec.TLS == nil || e.Spec.TLS.CertManager == nil {
		return nil
	}
	cm := e.Spec.TLS.CertManager
	names := make([]any, 0, len(e.TLSDNSNames()))
	for _, n := range e.TLSDNSNames() {
		names = append(names, n)
	}
	spec := map[string]any{
		"secretName": e.TLSSourceSecretName(),
		"secretTemplate": map[string]any{
			"labels": map[string]any{v2beta1.LabelWatched: "true", v2beta1.LabelInstance: e.Name},
		},
		"dnsNames": names,
		"issuerRef": map[string]any{"name": cm.IssuerRef.Name, "kind": orDefault(cm.IssuerRef.Kind, "Issuer"),
			"group": orDefault(cm.IssuerRef.Group, "cert-manager.io")},
		"usages": []any{"server auth", "digital signature", "key encipherment"},
	}
	if cm.Duration != nil {
		spec["duration"] = cm.Duration.Duration.String()
	}
	if cm.RenewBefore != nil {
		spec["renewBefore"] = cm.RenewBefore.Duration.String()
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(CertificateGVK)
	u.SetName(e.CertificateName())
	u.SetNamespace(e.Namespace)
	u.SetLabels(e.SelectorLabels())
	return u
}

// orDefault repeats the CRD's defaults, for resources that did not come through the API server
// (offline render).
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
