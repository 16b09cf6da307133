// Package v3beta1 contains the apps.emqx.io/v3beta1 API: the EMQX kind as the vendor's
// emqx-operator 3.0 serves it (vendor-apis/v3beta1.md, the newest release-candidate state: config
// roots, a non-pointer replicant template, clusterNodes in status), plus this operator's own
// optional fields, so that 3.0 manifests apply unchanged and every v2beta1 field has a place.
//
// It converts to and from v2beta1, which the controllers work on (the conversion hub). The CRD
// does not serve this version yet: it is served once the manager's conversion webhook is in place
// (issue 17); until then the EMQX type carries +kubebuilder:skipversion.
// +kubebuilder:object:generate=true
// +groupName=apps.emqx.io
package v3beta1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "apps.emqx.io", Version: "v3beta1"}

	// SchemeBuilder adds the types of this API to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(&EMQX{}, &EMQXList{})
}
