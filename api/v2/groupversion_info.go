// Package v2 contains the apps.emqx.io/v2 API: the EMQX kind as the vendor's emqx-operator 2.3
// serves it (vendor-apis/v2.md), plus this operator's own optional fields, so that 2.3 manifests
// apply unchanged and every field of the v2beta1 API has a place here.
//
// It converts to and from v2beta1, which the controllers work on (the conversion hub). The CRD
// does not serve this version yet: it is served once the manager's conversion webhook is in place
// (issue 17); until then the EMQX type carries +kubebuilder:skipversion.
// +kubebuilder:object:generate=true
// +groupName=apps.emqx.io
package v2

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "apps.emqx.io", Version: "v2"}

	// SchemeBuilder adds the types of this API to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(&EMQX{}, &EMQXList{})
}
