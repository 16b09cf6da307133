package simulator

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func errNoNode(name string) error { return fmt.Errorf("no node %s", name) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func boolString(b bool) string { return fmt.Sprint(b) }

// annotateKey annotates a pod given as namespace/name.
func (s *Simulator) annotateKey(ctx context.Context, podKey, key, value string) {
	ns, name, _ := strings.Cut(podKey, "/")
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if _, err := s.kc.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		s.log.Warn("annotating pod", "pod", podKey, "error", err)
	}
}
