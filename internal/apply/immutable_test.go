package apply

import (
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestImmutableFieldChangeReadsTheCauses: the replace path is taken on the API server's structured
// causes, whatever the error's text says.
func TestImmutableFieldChangeReadsTheCauses(t *testing.T) {
	sts := schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	invalid := func(errs ...*field.Error) error { return apierrors.NewInvalid(sts, "emqx-core", errs) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"StatefulSet spec update forbidden (volumeClaimTemplates, serviceName, …)",
			invalid(field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas' are forbidden")), true},
		{"a field marked immutable",
			invalid(field.Invalid(field.NewPath("spec", "selector"), "a", apivalidation.FieldImmutableErrorMsg)), true},
		{"one immutable cause among others",
			invalid(field.Required(field.NewPath("spec", "x"), ""), field.Invalid(field.NewPath("spec", "selector"), "a", apivalidation.FieldImmutableErrorMsg)), true},
		{"a plain invalid value is the user's error, not a replace",
			invalid(field.Invalid(field.NewPath("spec", "replicas"), -1, "must be greater than or equal to 0")), false},
		{"forbidden on another field", invalid(field.Forbidden(field.NewPath("spec", "template"), "no")), false},
		{"the text alone does not count", errors.New("field is immutable"), false},
		{"a conflict", apierrors.NewConflict(schema.GroupResource{Resource: "statefulsets"}, "emqx-core", errors.New("field is immutable")), false},
		{"no error", nil, false},
	} {
		if got := immutableFieldChange(tc.err); got != tc.want {
			t.Errorf("%s: immutableFieldChange = %v, want %v", tc.name, got, tc.want)
		}
	}
}
