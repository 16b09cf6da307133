package simulator

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The licence gate of clustering on 5.9+ (emqx6-behaviour.md §2). A join through the REST invite
// asks the peer (can_i_join: refused when the cluster runs the single-node community licence);
// DNS autoclustering joins without asking. Either way the joiner's licence application then
// starts (a join restarts its apps, as does a boot) and validates: the community licence with more
// than one node running fails it, and the node crash-loops. Newer patches first wait up to 30 s
// for the peer's licence to replicate.

// LicenceGrace is how long a node whose licence application starts waits for a licence that
// allows clustering before it fails (patches with #17999).
const LicenceGrace = 30 * time.Second

// CrashBackoff is how long a crashed node's container waits before it starts again.
const CrashBackoff = 10 * time.Second

// licenceGrace: the 30 s wait exists in e5.9.3, 6.1.4 and the release branches of 5.9–6.3 after
// the tags the reference lists as failing at once (e5.10.4, e6.0.1, 6.0.3, 6.1.3, 6.2.2,
// 6.3.0-beta.2); later patches of those series are read as having it.
func licenceGrace(version string) time.Duration {
	var ma, mi, pa int
	if _, err := fmt.Sscanf(version, "%d.%d.%d", &ma, &mi, &pa); err != nil {
		return 0
	}
	firstWithGrace := map[[2]int]int{{5, 9}: 3, {5, 10}: 5, {6, 0}: 4, {6, 1}: 4, {6, 2}: 3, {6, 3}: 0}
	if first, ok := firstWithGrace[[2]int{ma, mi}]; ok {
		if pa >= first {
			return LicenceGrace
		}
		return 0
	}
	if ma > 6 || ma == 6 && mi > 3 {
		return LicenceGrace
	}
	return 0
}

// licenceAppStarts runs the licence validation of a node whose apps (re)start: at boot and after
// a join (w.mu held). Without a violation it passes at once; with one, the node fails at the end
// of its release's grace unless a licence for clustering arrives before (validateLicences).
// Releases before 5.9 have no single-node licence.
func (s *Simulator) licenceAppStarts(n *node, now time.Time) {
	n.licDeadline = time.Time{}
	if !atLeast(n.version, 5, 9) || isV4(n.version) || !s.singleNodeViolation(n) {
		return
	}
	n.licDeadline = now.Add(s.scaled(licenceGrace(n.version)))
}

// singleNodeViolation: n's cluster runs the community licence with more than one node running.
func (s *Simulator) singleNodeViolation(n *node) bool {
	c := s.w.clusterOf(n)
	return c != nil && c.license.Type == "community" && len(s.w.runningMembers(c)) > 1
}

// validateLicences ends the validations under way: one whose violation is gone passes; one still
// violating at its deadline fails: the node crashes (SINGLE_NODE_LICENSE) and its container
// starts again after CrashBackoff.
func (s *Simulator) validateLicences(ctx context.Context, now time.Time) {
	var crashed []*node
	s.w.mu.Lock()
	for _, n := range s.w.nodes {
		if n.state != running || n.licDeadline.IsZero() {
			continue
		}
		switch {
		case !s.singleNodeViolation(n):
			n.licDeadline = time.Time{}
		case !now.Before(n.licDeadline):
			n.licDeadline = time.Time{}
			n.crashed = true
			crashed = append(crashed, n)
		}
	}
	s.w.mu.Unlock()
	for _, n := range crashed {
		s.log.Warn("node crashed", "node", n.name,
			"reason", "SINGLE_NODE_LICENSE, make sure this node and peer nodes are configured with a valid license")
		s.stopNode(n.podUID)
		s.annotateKey(ctx, n.podKey, n.podUID, AnnotationReady, "false")
		s.wg.Go(func() { s.restartAfterCrash(ctx, n) })
	}
}

// restartAfterCrash starts the crashed node's container again, on the same pod, unless the pod
// was deleted or replaced meanwhile.
func (s *Simulator) restartAfterCrash(ctx context.Context, n *node) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(s.scaled(CrashBackoff)):
	}
	ns, name, _ := strings.Cut(n.podKey, "/")
	p, err := s.kc.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || string(p.UID) != n.podUID || p.DeletionTimestamp != nil {
		return
	}
	s.startNode(ctx, p)
}
