// Package v1beta2 contains the apps.emqx.io/v1beta2 API: the EmqxEnterprise and EmqxBroker kinds for
// EMQX 4.4 clusters, as the seed article and the EMQX operators of that era wrote them. Field names
// and defaults follow that API so its manifests apply unchanged; the only field added is optional
// (emqxTemplate.licenseSecretName).
// +kubebuilder:object:generate=true
// +groupName=apps.emqx.io
package v1beta2

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "apps.emqx.io", Version: "v1beta2"}

	// SchemeBuilder adds the types of this API to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
