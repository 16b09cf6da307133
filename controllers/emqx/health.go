package emqx

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/controllers/pipeline"
	"github.com/broker-ops/emqx-operator/internal/status"
)

// fingerprint sums up what the cluster looks like in Kubernetes: its spec (generation), labels and
// annotations (pause), the key the operator calls EMQX with (its name, never its secret), and every
// workload and pod at its resource version. Any change there (a pod turning unready, a rollout, a
// spec edit) ends a stable cluster's quiet time: the next pass reads EMQX in full at once. The
// cluster's own status is left out: writing it must not count as a change.
func fingerprint(e *v2beta1.EMQX, keyName string, o *status.Observed) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|", e.Generation, keyName)
	for _, m := range []map[string]string{e.Labels, e.Annotations} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%s=%s|", k, m[k])
		}
	}
	if o.CoreSet != nil {
		fmt.Fprintf(h, "core %s %s|", o.CoreSet.UID, o.CoreSet.ResourceVersion)
	}
	if o.ReplicantSet != nil {
		fmt.Fprintf(h, "replicant %s %s|", o.ReplicantSet.UID, o.ReplicantSet.ResourceVersion)
	}
	for i := range o.Pods {
		fmt.Fprintf(h, "pod %s %s|", o.Pods[i].UID, o.Pods[i].ResourceVersion)
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// clusterKey names a cluster in the health poller.
func clusterKey(e *v2beta1.EMQX) string { return e.Namespace + "/" + e.Name }

// nextLook is when a converged cluster is looked at again: when its next EMQX read is due. A pass
// before that would find nothing new: Kubernetes changes wake the cluster through its watches,
// and EMQX is not read until then. Without the health budget (due is zero), every pass reads
// EMQX in full and the resync of a healthy cluster (watches.yaml's reconcilePeriod) paces them.
func (r *EMQXReconciler) nextLook(due time.Time) time.Duration {
	if due.IsZero() {
		return r.readyResync()
	}
	return max(due.Sub(r.now()), pipeline.Settle)
}

func (r *EMQXReconciler) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}
