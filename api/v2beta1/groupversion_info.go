// Package v2beta1 contains the apps.emqx.io/v2beta1 API: the EMQX kind for EMQX 5.x and 6.x clusters.
// Field names and defaults follow the v2beta1 API users already hold manifests for, so those manifests
// apply unchanged; fields the old API lacked are added only as optional fields.
// +kubebuilder:object:generate=true
// +groupName=apps.emqx.io
package v2beta1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "apps.emqx.io", Version: "v2beta1"}

	// SchemeBuilder adds the types of this API to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
