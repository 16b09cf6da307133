package dsrepl

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func TestReplicationFactorIsTheHighestAsked(t *testing.T) {
	cases := []struct {
		name string
		conf string
		env  []corev1.EnvVar
		want int
	}{
		{"EMQX's default", "", nil, 3},
		{"5.x messages", "durable_storage.messages.replication_factor = 2", nil, 3}, // the other DBs keep 3
		{"every DB lower", "durable_storage { messages.replication_factor = 2, sessions.replication_factor = 2, timers.replication_factor = 2, shared_subs.replication_factor = 2, mq_states.replication_factor = 2, mq_messages.replication_factor = 2, streams_messages.replication_factor = 2 }", nil, 2},
		{"one DB higher", "durable_storage.sessions.replication_factor = 5", nil, 5},
		{"env wins", "durable_storage.sessions.replication_factor = 5", []corev1.EnvVar{{Name: "EMQX_DURABLE_STORAGE__SESSIONS__REPLICATION_FACTOR", Value: "4"}}, 4},
		{"unparsable config counts as defaults", "a = {", nil, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &v2beta1.EMQX{}
			e.Spec.Config.Data = c.conf
			e.Spec.CoreTemplate.Spec.Env = c.env
			if got := ReplicationFactor(e); got != c.want {
				t.Errorf("ReplicationFactor = %d, want %d", got, c.want)
			}
		})
	}
}
