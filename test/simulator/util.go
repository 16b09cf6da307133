package simulator

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func errNoNode(name string) error { return fmt.Errorf("no node %s", name) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func boolString(b bool) string { return fmt.Sprint(b) }

// annotateKey annotates the pod with this UID, given as namespace/name. The UID travels in the
// patch: the API server refuses it (uid is immutable) when the name now belongs to a successor
// pod, which must never get its predecessor's state.
func (s *Simulator) annotateKey(ctx context.Context, podKey, uid, key, value string) {
	ns, name, _ := strings.Cut(podKey, "/")
	patch := fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:%q}}}`, uid, key, value)
	_, err := s.kc.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	// Invalid (uid is immutable): the name belongs to a successor now, which keeps its own state.
	if err != nil && !apierrors.IsInvalid(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		s.log.Warn("annotating pod", "pod", podKey, "uid", uid, "key", key, "error", err)
	}
}
