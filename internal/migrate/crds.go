package migrate

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/broker-ops/emqx-operator/config/crd"
)

// OurCRDs are the operator's CRDs, as installed by every install path.
func OurCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := fs.Glob(crd.Bases, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		b, err := crd.Bases.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// converters rewrite stored resources of a CRD to our schema (by shape; see ConvertEMQX).
var converters = map[string]func(map[string]any) bool{
	"emqxes.apps.emqx.io": ConvertEMQX,
}

// convertible are the stored versions whose shapes the converters know; resources stored in any
// other (the vendor's v3alpha1/v3beta1) would be misread, so such a CRD is not taken over.
var convertible = map[string][]string{
	"emqxes.apps.emqx.io": {"v2alpha1", "v2alpha2", "v2beta1"},
	// EMQX 4.4 kinds: this operator serves v1beta2 only; the vendor's v1beta3/v1beta4 moved fields.
	"emqxenterprises.apps.emqx.io": {"v1beta2"},
	"emqxbrokers.apps.emqx.io":     {"v1beta2"},
}

// TakeOver moves one CRD another operator installed under one of our names to ours, keeping every
// resource: conversion off (the old webhook is not asked again), each resource read as stored,
// converted to our shape and written back (so it is stored in our storage version), the CRD's
// storedVersions reduced to ours, and finally the CRD's spec replaced by ours. It is safe to run
// again after a failure at any step. log gets one line per step.
func TakeOver(ctx context.Context, c client.Client, ours *apiextensionsv1.CustomResourceDefinition, log io.Writer) error {
	cur := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: ours.Name}, cur); apierrors.IsNotFound(err) {
		fmt.Fprintf(log, "%s: not installed; the install creates it\n", ours.Name)
		return nil
	} else if err != nil {
		return err
	}
	storage := storageVersion(ours)
	if isOurs(cur, ours) {
		fmt.Fprintf(log, "%s: already this operator's (stored versions %v)\n", ours.Name, cur.Status.StoredVersions)
		return nil
	}

	if known, ok := convertible[ours.Name]; ok {
		if i := slices.IndexFunc(cur.Status.StoredVersions, func(v string) bool { return !slices.Contains(known, v) }); i >= 0 {
			// A CRD without resources has nothing stored in that version, whatever storedVersions
			// remembers: it can be taken over. With resources (or when they cannot be listed) the
			// resources would be misread, so nothing is changed.
			if empty, err := hasNoResources(ctx, c, cur); err != nil || !empty {
				return fmt.Errorf("%s: resources are stored in %s, a version this release cannot convert; nothing was changed "+
					"(keep the vendor's operator for them, see docs/migration.md)", ours.Name, cur.Status.StoredVersions[i])
			}
			fmt.Fprintf(log, "%s: no resources, so stored versions %v hold no data\n", ours.Name, cur.Status.StoredVersions)
		}
	}

	// 1. Every version served, no conversion, no pruning: a read returns each resource exactly as
	// it is stored, whatever version it was written in, and no request reaches the old webhook.
	open := cur.DeepCopy()
	open.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
	if !slices.ContainsFunc(open.Spec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Name == storage }) {
		v := ours.Spec.Versions[slices.IndexFunc(ours.Spec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return v.Storage })]
		v.Storage = false
		open.Spec.Versions = append(open.Spec.Versions, v)
	}
	for i := range open.Spec.Versions {
		v := &open.Spec.Versions[i]
		v.Served, v.Storage = true, v.Name == storage
		v.Schema = &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
			Type: "object", XPreserveUnknownFields: ptr.To(true)}}
	}
	if err := c.Update(ctx, open); err != nil {
		return fmt.Errorf("%s: turning conversion off: %w", ours.Name, err)
	}
	fmt.Fprintf(log, "%s: conversion webhook removed; every version served as stored; storage version %s\n", ours.Name, storage)

	// 2. Every resource rewritten: stored in our storage version, in our shape.
	gvk := schema.GroupVersionKind{Group: ours.Spec.Group, Version: storage, Kind: ours.Spec.Names.ListKind}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk)
	// The version step 1 added is served once the API server's discovery publishes it, a moment
	// after the update: until then the client knows no such kind.
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.List(ctx, list)
		if meta.IsNoMatchError(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("%s: listing: %w", ours.Name, err)
	}
	convert := converters[ours.Name]
	for i := range list.Items {
		obj := &list.Items[i]
		if convert != nil {
			convert(obj.Object)
		}
		if err := c.Update(ctx, obj); err != nil {
			return fmt.Errorf("%s: rewriting %s/%s: %w", ours.Name, obj.GetNamespace(), obj.GetName(), err)
		}
	}
	fmt.Fprintf(log, "%s: %d resource(s) rewritten in %s\n", ours.Name, len(list.Items), storage)

	// 3. Nothing is stored in another version any more.
	if err := c.Get(ctx, client.ObjectKey{Name: ours.Name}, cur); err != nil {
		return err
	}
	cur.Status.StoredVersions = []string{storage}
	if err := c.Status().Update(ctx, cur); err != nil {
		return fmt.Errorf("%s: storedVersions: %w", ours.Name, err)
	}

	// 4. Our spec: our versions and schema, no webhook; labels and annotations stay.
	cur.Spec = *ours.Spec.DeepCopy()
	if err := c.Update(ctx, cur); err != nil {
		return fmt.Errorf("%s: installing this operator's definition: %w", ours.Name, err)
	}
	fmt.Fprintf(log, "%s: taken over (versions %v, stored %v)\n", ours.Name, versionNames(ours), []string{storage})
	return nil
}

func storageVersion(c *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range c.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

func versionNames(c *apiextensionsv1.CustomResourceDefinition) []string {
	var out []string
	for _, v := range c.Spec.Versions {
		out = append(out, v.Name)
	}
	return out
}

// isOurs: the CRD has exactly our versions, nothing stored in another, and no webhook.
func isOurs(cur, ours *apiextensionsv1.CustomResourceDefinition) bool {
	return slices.Equal(versionNames(cur), versionNames(ours)) && slices.Equal(cur.Status.StoredVersions, []string{storageVersion(ours)}) &&
		webhook(cur) == nil
}

func webhook(c *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.WebhookConversion {
	if c.Spec.Conversion == nil || c.Spec.Conversion.Strategy != apiextensionsv1.WebhookConverter {
		return nil
	}
	return c.Spec.Conversion.Webhook
}

// hasNoResources lists one resource of cur in its current storage version (which needs no
// conversion) to tell whether the CRD has any.
func hasNoResources(ctx context.Context, c client.Client, cur *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: cur.Spec.Group, Version: storageVersion(cur), Kind: cur.Spec.Names.ListKind})
	if err := c.List(ctx, list, client.Limit(1)); err != nil {
		return false, err
	}
	return len(list.Items) == 0, nil
}
