// Package convert holds what the conversions of every EMQX version to the hub (v2beta1) share:
// the annotation that carries fields a version cannot hold, the legacy toleRations, and reading a
// pod name from a node name.
package convert

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TakeAnnotation removes the annotation key from meta and returns what it holds. An annotation
// that does not decode (edited by hand) is left where it is and restores nothing: the conversion
// still succeeds, and nothing the user wrote is dropped.
func TakeAnnotation[T any](meta *metav1.ObjectMeta, key string) T {
	var out T
	raw, ok := meta.Annotations[key]
	if !ok || json.Unmarshal([]byte(raw), &out) != nil {
		var zero T // a failed decode may have filled part of out
		return zero
	}
	delete(meta.Annotations, key)
	if len(meta.Annotations) == 0 {
		meta.Annotations = nil
	}
	return out
}

// PutAnnotation encodes what into the annotation key of meta, unless empty.
func PutAnnotation(meta *metav1.ObjectMeta, key string, what any, empty bool) error {
	if empty {
		return nil
	}
	raw, err := json.Marshal(what)
	if err != nil {
		return fmt.Errorf("keeping the fields %s cannot hold in %s: %w", meta.Name, key, err)
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[key] = string(raw)
	return nil
}

// JoinToleRations appends v2beta1's legacy toleRations to tolerations (both lists apply), for a
// version without the legacy spelling.
func JoinToleRations(tolerations, toleRations []corev1.Toleration) []corev1.Toleration {
	if len(toleRations) == 0 {
		return tolerations
	}
	return append(append([]corev1.Toleration{}, tolerations...), toleRations...)
}

// SplitToleRations undoes JoinToleRations while tolerations still end with the toleRations an
// earlier conversion appended; once the list was edited it is taken as it is (every entry applies
// either way).
func SplitToleRations(tolerations, toleRations []corev1.Toleration) (rest, legacy []corev1.Toleration) {
	n, k := len(tolerations), len(toleRations)
	if k == 0 || n < k || !equality.Semantic.DeepEqual(tolerations[n-k:], toleRations) {
		return tolerations, nil
	}
	if n == k {
		return nil, toleRations
	}
	return tolerations[: n-k : n-k], toleRations
}

// PodOfNode is the pod of an EMQX node named emqx@<pod>.<cluster>-headless.<namespace>..., the
// form the operator gives its nodes ("" for a name of another form).
func PodOfNode(cluster, node string) string {
	_, host, ok := strings.Cut(node, "@")
	if !ok {
		return ""
	}
	pod, rest, ok := strings.Cut(host, ".")
	if !ok || !strings.HasPrefix(rest, cluster+"-headless.") {
		return ""
	}
	return pod
}
