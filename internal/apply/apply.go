// Package apply writes desired objects with server-side apply. It skips objects the cluster
// already holds as desired, so a reconcile with nothing to change makes no write at all, and it
// emits one Event for each object it really created or changed.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/broker-ops/emqx-operator/internal/render"
)

// FieldOwner is the field manager of every field the operator applies.
const FieldOwner = "emqx-operator"

// AnnotationAppliedHash records the hash of what the operator last applied to an object. An
// object whose hash matches and whose fields still hold the applied values needs no write.
const AnnotationAppliedHash = "apps.emqx.io/applied-hash"

// Applier applies objects for one owner.
type Applier struct {
	// Client reads live objects (from the cache) and applies.
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// ReplaceForeign: a StatefulSet or Service that exists but was never applied by this operator
	// (no applied-hash annotation: another operator made it) first gets this operator's spec
	// wholesale by an update, instead of a server-side apply merged with the other operator's
	// fields. See takeOver.
	ReplaceForeign bool
	// OnlyOwned: an object that exists without the owner as its controller is left alone and
	// reported as *NotOwned. For objects a user may well have made by hand under the same name
	// (a PodMonitor written from the vendor's docs): a forced apply would silently take it over.
	OnlyOwned bool
	// Memo skips the comparison of objects found up to date before, unchanged since on both
	// sides (nil: every object is compared).
	Memo *UpToDateMemo
}

// Change is one object the applier created or changed.
type Change struct {
	Object  client.Object
	Created bool
	// Replaced: the object was deleted (orphaning its dependents) and created again, because a
	// field it needed to change is immutable.
	Replaced bool
}

// Apply applies every object in order and returns what changed. It stops at the first error:
// later objects may depend on earlier ones (a StatefulSet on its ConfigMap). An object that is being
// replaced (see replace) stops it with a *ReplacePending error, after the changes made so far.
func (a *Applier) Apply(ctx context.Context, owner client.Object, objs []client.Object) ([]Change, error) {
	var changes []Change
	for _, obj := range objs {
		c, err := a.applyOne(ctx, owner, obj)
		if c != nil {
			changes = append(changes, *c)
			verb, reason := "updated", "Updated"
			switch {
			case c.Created:
				verb, reason = "created", "Created"
			case c.Replaced:
				verb, reason = "deleted to be created again with an immutable field changed (its pods and PVCs are kept)", "Replaced"
			}
			a.Recorder.Eventf(owner, obj, corev1.EventTypeNormal, reason, "Apply", "%s %s %s", render.KindOf(obj), obj.GetName(), verb)
		}
		var pending *ReplacePending
		var notOwned *NotOwned
		if errors.As(err, &pending) || errors.As(err, &notOwned) {
			return changes, err
		}
		if err != nil {
			return changes, fmt.Errorf("applying %s: %w", render.KindOf(obj)+" "+obj.GetName(), err)
		}
	}
	return changes, nil
}

// ReplacePending: an object was deleted to be created again (an immutable field changed) and the
// garbage collector has not released it yet. Nothing after it is applied in this pass; the
// object's deletion wakes the reconciler, which then creates it.
type ReplacePending struct {
	Kind, Name string
}

// NotOwned: with OnlyOwned, an object of the desired name exists that the owner does not control.
type NotOwned struct {
	Kind, Name string
}

func (n *NotOwned) Error() string {
	return fmt.Sprintf("%s %s exists and is not managed by this cluster: it is left as it is; delete or rename it to let the operator make its own", n.Kind, n.Name)
}

func (p *ReplacePending) Error() string {
	return fmt.Sprintf("%s %s is being replaced: waiting for it to be deleted before it is created again", p.Kind, p.Name)
}

func (a *Applier) applyOne(ctx context.Context, owner, desired client.Object) (*Change, error) {
	gvk, err := apiutil.GVKForObject(desired, a.Scheme)
	if err != nil {
		return nil, err
	}
	hash, err := Hash(desired)
	if err != nil {
		return nil, err
	}
	annotations := desired.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationAppliedHash] = hash
	desired.SetAnnotations(annotations)

	live, err := a.emptyLike(desired, gvk)
	if err != nil {
		return nil, err
	}
	err = a.Client.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return nil, err
	case a.OnlyOwned && !metav1.IsControlledBy(live, owner):
		return nil, &NotOwned{Kind: gvk.Kind, Name: desired.GetName()}
	case live.GetDeletionTimestamp() != nil && slices.Contains(live.GetFinalizers(), metav1.FinalizerOrphanDependents):
		// Being replaced (an earlier pass deleted it, orphaning its dependents): an apply would only
		// touch an object on its way out. It is created again once the garbage collector lets it
		// go. An object someone else is deleting is applied as before: waiting on a finalizer the
		// operator does not control (a load balancer's clean-up) could hold the cluster for ever.
		return nil, &ReplacePending{Kind: gvk.Kind, Name: desired.GetName()}
	case a.ReplaceForeign && live.GetAnnotations()[AnnotationAppliedHash] == "":
		if err := a.takeOver(ctx, desired, live); err != nil {
			return nil, err
		}
	case a.Memo.known(owner, gvk, live, hash):
		return nil, nil
	case UpToDate(desired, live):
		a.Memo.remember(owner, gvk, live, hash)
		return nil, nil
	default:
		log.FromContext(ctx).V(1).Info("object out of date", "object", render.KindOf(desired)+"/"+desired.GetName(),
			"firstDifference", Difference(desired, live))
	}

	if a.OnlyOwned && live == nil {
		// The cache may not have seen an object made a moment ago (by a user, or by this
		// operator's previous pass); a forced apply would take over a user's. A create fails on
		// it instead (AlreadyExists), and the next pass, with the cache caught up, tells whose it is.
		if err := a.Client.Create(ctx, desired, client.FieldOwner(FieldOwner)); err != nil {
			return nil, err
		}
		return &Change{Object: desired, Created: true}, nil
	}
	u, err := toApplyUnstructured(desired, gvk.GroupVersion().String(), gvk.Kind)
	if err != nil {
		return nil, err
	}
	before := ""
	if live != nil {
		before = live.GetResourceVersion()
	}
	err = a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
	if err != nil && live != nil && immutableFieldChange(err) {
		return a.replace(ctx, live, u)
	}
	if err != nil {
		return nil, err
	}
	if u.GetResourceVersion() == before {
		return nil, nil
	}
	return &Change{Object: desired, Created: live == nil}, nil
}

// emptyLike is an empty object of desired's kind to read the live one into: typed through the
// scheme, or unstructured for kinds the operator has no Go types for (cert-manager's Certificate).
func (a *Applier) emptyLike(desired client.Object, gvk schema.GroupVersionKind) (client.Object, error) {
	if _, ok := desired.(*unstructured.Unstructured); ok {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		return u, nil
	}
	obj, err := a.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	return obj.(client.Object), nil
}

// immutableFieldChange: the API server refuses to change a field it treats as immutable (a
// StatefulSet's volumeClaimTemplates, serviceName, podManagementPolicy; any field the API server
// marks immutable). It is read from the error's causes: a field marked immutable
// (apimachinery's FieldImmutableErrorMsg), or the StatefulSet rule that forbids updates to spec
// fields other than a short list (reported on the field "spec").
func immutableFieldChange(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		switch {
		case c.Type == metav1.CauseTypeFieldValueInvalid && strings.Contains(c.Message, apivalidation.FieldImmutableErrorMsg):
			return true
		case c.Type == metav1.CauseTypeForbidden && c.Field == "spec":
			return true
		}
	}
	return false
}

// replace deletes an object that cannot be updated in place, orphaning its dependents: a
// StatefulSet's pods keep running and its PVCs keep their data, and the new StatefulSet (same
// selector) adopts them. The garbage collector first orphans the dependents, then removes the
// object, which takes seconds: the worker does not wait for it. The pass ends with ReplacePending
// and the pass after the deletion creates the object (applyOne's not-found case).
func (a *Applier) replace(ctx context.Context, live client.Object, u *unstructured.Unstructured) (*Change, error) {
	uid := live.GetUID()
	err := a.Client.Delete(ctx, live, client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("replacing %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return &Change{Object: live, Replaced: true}, &ReplacePending{Kind: u.GetKind(), Name: u.GetName()}
}

// UpToDate reports whether live already holds desired: the applied hash matches (so nothing was
// removed from the desired state since) and every field desired sets has the same value in live
// (so nobody changed a field the operator owns). Fields only live has — defaults, other managers'
// fields, status, timestamps — do not count.
func UpToDate(desired, live client.Object) bool {
	if live.GetAnnotations()[AnnotationAppliedHash] != desired.GetAnnotations()[AnnotationAppliedHash] {
		return false
	}
	d, err := toApplyUnstructured(desired, "", "")
	if err != nil {
		return false
	}
	l, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return false
	}
	delete(d.Object, "apiVersion")
	delete(d.Object, "kind")
	return contains(l, d.Object)
}

// Difference names the first field where live differs from desired, for debug logs.
func Difference(desired, live client.Object) string {
	if h := live.GetAnnotations()[AnnotationAppliedHash]; h != desired.GetAnnotations()[AnnotationAppliedHash] {
		return "applied hash " + h + " differs"
	}
	d, err := toApplyUnstructured(desired, "", "")
	if err != nil {
		return err.Error()
	}
	l, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return err.Error()
	}
	delete(d.Object, "apiVersion")
	delete(d.Object, "kind")
	return whyNot(l, d.Object, "")
}

// Hash is a stable hash of an object's desired content.
func Hash(obj client.Object) (string, error) {
	c := obj.DeepCopyObject().(client.Object)
	a := c.GetAnnotations()
	delete(a, AnnotationAppliedHash)
	c.SetAnnotations(a)
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12]), nil
}

// toApplyUnstructured converts a typed object into an apply request body, without the fields a
// typed Go struct always carries but the operator does not mean to own (status, timestamps).
func toApplyUnstructured(obj client.Object, apiVersion, kind string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	if vcts, ok, _ := unstructured.NestedSlice(u.Object, "spec", "volumeClaimTemplates"); ok {
		for _, v := range vcts {
			if vm, ok := v.(map[string]any); ok {
				unstructured.RemoveNestedField(vm, "metadata", "creationTimestamp")
				delete(vm, "status")
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, vcts, "spec", "volumeClaimTemplates")
	}
	return u, nil
}

// StatefulSetChanged reports whether an apply changed a StatefulSet: the pass observed the
// workloads before the change, so what the change makes outdated shows only on the next pass.
func StatefulSetChanged(changes []Change) bool {
	for _, c := range changes {
		if _, ok := c.Object.(*appsv1.StatefulSet); ok {
			return true
		}
	}
	return false
}
