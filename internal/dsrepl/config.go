// Package dsrepl decides what the operator does about EMQX's durable-storage (DS) replication
// (emqx6-behaviour.md §1): which sites hold each DB's shards, when to move them, which departing
// core must keep its pod until its replicas moved, and which lost sites to forget. It is pure:
// the controller reads EMQX into a Reading and carries out the Plan.
package dsrepl

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// DefaultReplicationFactor is EMQX's durable_storage.<db>.replication_factor default.
const DefaultReplicationFactor = 3

// AnnotationAcceptLowerRedundancy, set to "true", lets a scale-in of cores go below the
// configured replication factor (each shard then keeps fewer copies than asked for).
const AnnotationAcceptLowerRedundancy = "apps.emqx.io/accept-lower-ds-redundancy"

// dbRoots are the configuration roots of the DS DBs that take a replication factor: 5.x's
// messages, 6.x's per-DB roots (§1.2).
var dbRoots = []string{"messages", "sessions", "timers", "shared_subs", "mq_states", "mq_messages", "streams_messages"}

// ReplicationFactor is the highest replication factor the user's configuration asks of any DB
// (durable_storage.<db>.replication_factor; its EMQX_DURABLE_STORAGE__<DB>__REPLICATION_FACTOR
// override wins), EMQX's default 3 for a DB not set. It is fixed at runtime (§1.2), so the spec is
// the source; the highest one is what a scale-in must not go below.
func ReplicationFactor(e *v2beta1.EMQX) int {
	conf, err := emqxconf.Parse(e.Spec.Config.Data)
	if err != nil {
		conf = nil
	}
	highest := 0
	for _, db := range dbRoots {
		rf := DefaultReplicationFactor
		if s, ok, err := emqxconf.Scalar(conf, "durable_storage."+db+".replication_factor"); err == nil && ok {
			if n, err := strconv.Atoi(s); err == nil && n > 0 {
				rf = n
			}
		}
		if n, ok := envInt(e.Spec.CoreTemplate.Spec.Env, "EMQX_DURABLE_STORAGE__"+strings.ToUpper(db)+"__REPLICATION_FACTOR"); ok {
			rf = n
		}
		highest = max(highest, rf)
	}
	return highest
}

func envInt(env []corev1.EnvVar, name string) (int, bool) {
	for _, e := range env {
		if e.Name == name {
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(e.Value), `"`))
			return n, err == nil && n > 0
		}
	}
	return 0, false
}

// AcceptsLowerRedundancy: the user allowed a scale-in below the replication factor.
func AcceptsLowerRedundancy(e *v2beta1.EMQX) bool {
	return e.Annotations[AnnotationAcceptLowerRedundancy] == "true"
}

// DurableSessionsIn: durable_sessions.enable in the HOCON text, or EMQX_DURABLE_SESSIONS__ENABLE
// (EMQX's env override of the same key, which wins). An unparsable text counts as off here (the
// Validate step refuses it before).
func DurableSessionsIn(conf string, env []corev1.EnvVar) bool {
	for _, e := range env {
		if e.Name == "EMQX_DURABLE_SESSIONS__ENABLE" {
			return strings.EqualFold(strings.Trim(strings.TrimSpace(e.Value), `"`), "true")
		}
	}
	parsed, err := emqxconf.Parse(conf)
	if err != nil {
		return false
	}
	s, ok, err := emqxconf.Scalar(parsed, "durable_sessions.enable")
	return err == nil && ok && strings.EqualFold(s, "true")
}
