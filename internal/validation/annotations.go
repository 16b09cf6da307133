package validation

import (
	"fmt"
	"strings"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/dsrepl"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
)

// ReasonUnknownAnnotation: an annotation in the operator's namespace that it does not read, so
// close to one it reads that it is most likely a typo.
const ReasonUnknownAnnotation = "UnknownAnnotation"

// userAnnotations are the annotations on an EMQX resource that change what the operator does.
var userAnnotations = []string{
	v2beta1.PauseAnnotation,
	v2beta1.AnnotationAdoptVendorWorkloads,
	v2beta1.AnnotationCoreStatefulSet,
	upgradepath.AcceptAnnotation,
	dsrepl.AnnotationAcceptLowerRedundancy,
}

// Annotations refuses a misspelt safety annotation: a typo in an override (accepting a risky
// upgrade, pausing) would otherwise be ignored in silence, and the user would believe the override
// in force. Other apps.emqx.io/ annotations (the vendor operator's bookkeeping on adopted
// resources, for one) are left alone: only a near miss of one the operator reads is an error.
func Annotations(e *v2beta1.EMQX) *Problem {
	for name := range e.Annotations {
		if !strings.HasPrefix(name, "apps.emqx.io/") {
			continue
		}
		for _, known := range userAnnotations {
			if name != known && nearMiss(strings.TrimPrefix(name, "apps.emqx.io/"), strings.TrimPrefix(known, "apps.emqx.io/")) {
				return &Problem{Reason: ReasonUnknownAnnotation, Message: fmt.Sprintf(
					"annotation %s is not one the operator reads; did you mean %s? Nothing is applied until it is fixed", name, known)}
			}
		}
	}
	return nil
}

// nearMiss: a and b differ by at most two single-character edits (insert, delete, replace), or
// only in case and separators.
func nearMiss(a, b string) bool {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r == '.' {
				return -1
			}
			return r
		}, strings.ToLower(s))
	}
	return norm(a) == norm(b) || editDistance(a, b) <= 2
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
