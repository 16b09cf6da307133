package status

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/dsrepl"
)

// dsCondition: status.dsReplication and DSReplicationReady from the DS report; a pass that did not
// read DS keeps both. A cluster without DS shows neither. It returns whether DS lets the cluster
// be Ready, and why not.
func dsCondition(s *v2beta1.EMQXStatus, prev v2beta1.EMQXStatus, r Reports, set func(string, bool, string, string)) (ok bool, reason, msg string) {
	if !r.DS.Observed {
		s.DSReplication = prev.DSReplication
		if c := meta.FindStatusCondition(s.Conditions, v2beta1.DSReplicationReady); c != nil && c.Status != "True" {
			return false, c.Reason, c.Message
		}
		return true, "", ""
	}
	if !r.DS.InUse {
		s.DSReplication = nil
		meta.RemoveStatusCondition(&s.Conditions, v2beta1.DSReplicationReady)
		return true, "", ""
	}
	s.DSReplication = &v2beta1.DSReplicationStatus{DBs: r.DS.DBs, CoreSites: r.DS.CoreSites}
	set(v2beta1.DSReplicationReady, r.DS.Ready, r.DS.Reason, r.DS.Message)
	return r.DS.Ready, r.DS.Reason, r.DS.Message
}

// dsMoving: DSReplicationReady (this pass's or the one kept) says replicas are on their way.
func dsMoving(s v2beta1.EMQXStatus) bool {
	c := meta.FindStatusCondition(s.Conditions, v2beta1.DSReplicationReady)
	return c != nil && c.Status == metav1.ConditionFalse && dsrepl.Moving(c.Reason)
}
