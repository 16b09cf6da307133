package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/test/e2e/harness"
)

func podUIDs(t *testing.T, ns string) string {
	var out []string
	for _, p := range pods(t, ns) {
		out = append(out, p.Name+"="+string(p.UID))
	}
	return strings.Join(out, ",")
}

func configMapText(t *testing.T, ns, name string) string {
	t.Helper()
	ctx, cancel := harness.Ctx()
	defer cancel()
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-configs"}, cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data["emqx.conf"]
}

// TestConfigChangesReachRunningNodes: runtime keys are applied through the API with no pod
// restarted; a config EMQX rejects leaves the running one in place and says why; a restart-only
// key rolls the pods.
func TestConfigChangesReachRunningNodes(t *testing.T) {
	ns := env.NewNamespace(t)
	e := fastRollouts(coreReplicantCluster(ns, "conf", 2, 1))
	e.Spec.Config.Data = "log.console.level = info"
	create(t, e)
	first := env.WaitForCondition(t, ns, "conf", v2beta1.Ready, metav1.ConditionTrue, 90*time.Second)
	if first.Status.AppliedConfigRevision == "" {
		t.Fatal("no applied config revision in status")
	}
	uids := podUIDs(t, ns)

	update(t, ns, "conf", func(e *v2beta1.EMQX) {
		e.Spec.Config.Data = "log.console.level = debug\nlisteners.tcp.default.max_connections = 1024000"
	})
	harness.Eventually(t, 30*time.Second, "runtime config applied and written", func() error {
		got := env.GetEMQX(t, ns, "conf")
		if got.Status.AppliedConfigRevision == first.Status.AppliedConfigRevision || !strings.Contains(configMapText(t, ns, "conf"), "debug") {
			return fmt.Errorf("revision %s", got.Status.AppliedConfigRevision)
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	if now := podUIDs(t, ns); now != uids {
		t.Errorf("a runtime config change restarted pods:\n%s\n%s", uids, now)
	}
	if !configPut(t, 200) {
		t.Error("no successful PUT /api/v5/configs reached a node")
	}

	update(t, ns, "conf", func(e *v2beta1.EMQX) { e.Spec.Config.Data = "log.console.level = erro1r" })
	harness.Eventually(t, 30*time.Second, "rejected config reported", func() error {
		c := meta.FindStatusCondition(env.GetEMQX(t, ns, "conf").Status.Conditions, v2beta1.ConfigValid)
		if c == nil || c.Reason != "ConfigRejected" || !strings.Contains(c.Message, "unable_to_convert_to_enum_symbol") {
			return fmt.Errorf("ConfigValid = %+v", c)
		}
		return nil
	})
	if text := configMapText(t, ns, "conf"); !strings.Contains(text, "debug") || strings.Contains(text, "erro1r") {
		t.Errorf("the ConfigMap took a config EMQX rejected:\n%s", text)
	}
	if now := podUIDs(t, ns); now != uids {
		t.Error("a rejected config restarted pods")
	}

	update(t, ns, "conf", func(e *v2beta1.EMQX) {
		e.Spec.Config.Data = "log.console.level = debug\nnode.process_limit = 2097152"
	})
	env.WaitForCondition(t, ns, "conf", v2beta1.ConfigValid, metav1.ConditionTrue, 30*time.Second)
	harness.Eventually(t, 120*time.Second, "pods rolled for a restart-only key", func() error {
		got := env.GetEMQX(t, ns, "conf")
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v2beta1.Ready) {
			return fmt.Errorf("not Ready")
		}
		for _, p := range pods(t, ns) {
			if strings.Contains(uids, string(p.UID)) {
				return fmt.Errorf("pod %s not replaced yet", p.Name)
			}
		}
		return nil
	})
	if !strings.Contains(configMapText(t, ns, "conf"), "process_limit") {
		t.Error("the ConfigMap lacks the restart-only key")
	}
}

func configPut(t *testing.T, status int) bool {
	calls, err := env.Sim.Calls()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.Method == "PUT" && c.Path == "/api/v5/configs" && c.Status == status {
			return true
		}
	}
	return false
}
