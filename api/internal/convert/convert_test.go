package convert

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodOfNode(t *testing.T) {
	for node, want := range map[string]string{
		"emqx@c-core-0.c-headless.ns.svc.cluster.local":   "c-core-0",
		"emqx@c-replicant-1.c-headless.ns.svc.example":    "c-replicant-1",
		"emqx@other-core-0.other-headless.ns.svc.cluster": "",
		"emqx@10.0.0.1": "",
		"no-at-sign":    "",
	} {
		if got := PodOfNode("c", node); got != want {
			t.Errorf("PodOfNode(c, %q) = %q, want %q", node, got, want)
		}
	}
}

func TestToleRationsJoinAndSplit(t *testing.T) {
	a, b := corev1.Toleration{Key: "a"}, corev1.Toleration{Key: "b"}
	joined := JoinToleRations([]corev1.Toleration{a}, []corev1.Toleration{b})
	rest, legacy := SplitToleRations(joined, []corev1.Toleration{b})
	if !equality.Semantic.DeepEqual(rest, []corev1.Toleration{a}) || !equality.Semantic.DeepEqual(legacy, []corev1.Toleration{b}) {
		t.Errorf("split %v %v", rest, legacy)
	}
	if rest, legacy := SplitToleRations([]corev1.Toleration{b, a}, []corev1.Toleration{b}); len(legacy) != 0 || len(rest) != 2 {
		t.Errorf("an edited list is taken as it is: %v %v", rest, legacy)
	}
	if rest, legacy := SplitToleRations([]corev1.Toleration{b}, []corev1.Toleration{b}); rest != nil || len(legacy) != 1 {
		t.Errorf("only legacy entries: %v %v", rest, legacy)
	}
}

func TestAnAnnotationThatDoesNotDecodeIsKept(t *testing.T) {
	meta := metav1.ObjectMeta{Annotations: map[string]string{"k": "{not json"}}
	type fields struct{ A, B int }
	if out := TakeAnnotation[fields](&meta, "k"); meta.Annotations["k"] != "{not json" || out != (fields{}) {
		t.Errorf("annotations %v, decoded %+v", meta.Annotations, out)
	}
	meta.Annotations["k"] = `{"A":1,"B":"two"}` // fails half-way: nothing of it is used
	if out := TakeAnnotation[fields](&meta, "k"); out != (fields{}) {
		t.Errorf("decoded %+v from a value that does not decode", out)
	}
	meta.Annotations["k"] = `{"A":3}`
	out := TakeAnnotation[fields](&meta, "k")
	if out.A != 3 || meta.Annotations != nil {
		t.Errorf("decoded %+v, annotations %v", out, meta.Annotations)
	}
}
