package values

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

func cluster(mut func(*v2beta1.EMQX)) *v2beta1.EMQX {
	e := &v2beta1.EMQX{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Spec: v2beta1.EMQXSpec{Image: "emqx/emqx:5.8.6"}}
	if mut != nil {
		mut(e)
	}
	e.Default()
	return e
}

func envValue(env []corev1.EnvVar, name string) (string, int) {
	n, v := 0, ""
	for _, e := range env {
		if e.Name == name {
			n++
			v = e.Value
		}
	}
	return v, n
}

func TestEnv(t *testing.T) {
	e := cluster(func(e *v2beta1.EMQX) {
		e.Spec.CoreTemplate.Spec.Env = []corev1.EnvVar{
			{Name: "EMQX_NAME", Value: "broker"},          // user may rename the node base
			{Name: "EMQX_NODE__ROLE", Value: "replicant"}, // must not change a core's role
			{Name: "EMQX_LOG__CONSOLE__LEVEL", Value: "debug"},
		}
	})
	v := FromEMQX(e, Inputs{})
	env := v.Roles.Core.Container.Env
	cases := []struct{ name, want string }{
		{"EMQX_NAME", "broker"},
		{"EMQX_NODE__ROLE", "core"},
		{"EMQX_LOG__CONSOLE__LEVEL", "debug"},
		{"EMQX_CLUSTER__DISCOVERY_STRATEGY", "dns"},
		{"EMQX_CLUSTER__DNS__NAME", "c-headless.ns.svc.cluster.local"},
		{"EMQX_CLUSTER__DNS__RECORD_TYPE", "srv"},
		{"EMQX_HOST", "$(POD_NAME).c-headless.ns.svc.cluster.local"},
	}
	for _, c := range cases {
		got, n := envValue(env, c.name)
		if got != c.want || n != 1 {
			t.Errorf("%s = %q (%d times), want %q once", c.name, got, n, c.want)
		}
	}
}

func TestSecurityContextsAreRestrictedUnlessTheUserOptsOut(t *testing.T) {
	v := FromEMQX(cluster(nil), Inputs{})
	pod, c := v.Roles.Core.Pod.SecurityContext, v.Roles.Core.Container.SecurityContext
	if !ptr.Deref(pod.RunAsNonRoot, false) || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context not restricted: %+v", pod)
	}
	if ptr.Deref(c.AllowPrivilegeEscalation, true) || c.Capabilities == nil || len(c.Capabilities.Drop) != 1 || c.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context not restricted: %+v", c)
	}
	if ptr.Deref(pod.RunAsUser, 0) != 1000 || ptr.Deref(pod.FSGroup, 0) != 1000 {
		t.Errorf("v2beta1 defaults (uid/fsGroup 1000) lost: %+v", pod)
	}

	opted := FromEMQX(cluster(func(e *v2beta1.EMQX) {
		e.Spec.CoreTemplate.Spec.ContainerSecurityContext = &corev1.SecurityContext{
			Privileged: ptr.To(true), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
	}), Inputs{})
	oc := opted.Roles.Core.Container.SecurityContext
	if oc.AllowPrivilegeEscalation != nil || len(oc.Capabilities.Drop) != 0 || oc.Capabilities.Add[0] != "NET_ADMIN" {
		t.Errorf("user's explicit security context overridden: %+v", oc)
	}
}

func TestReplicantsWaitForTheGate(t *testing.T) {
	e := cluster(func(e *v2beta1.EMQX) {
		e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{}
	})
	if FromEMQX(e, Inputs{ReplicantsAllowed: false}).Roles.Replicant.Enabled {
		t.Error("replicants rendered before the gate opened")
	}
	v := FromEMQX(e, Inputs{ReplicantsAllowed: true})
	if !v.Roles.Replicant.Enabled || v.Roles.Replicant.Replicas != 2 {
		t.Errorf("replicants: enabled=%v replicas=%d, want true/2 (the v2beta1 default)", v.Roles.Replicant.Enabled, v.Roles.Replicant.Replicas)
	}
	listeners := v.Services[1]
	if listeners.Spec.Selector[v2beta1.LabelDBRole] != v2beta1.RoleReplicant {
		t.Errorf("listeners select %v, want replicants", listeners.Spec.Selector)
	}
}

func TestUserLabelsNeverReachSelectors(t *testing.T) {
	e := cluster(func(e *v2beta1.EMQX) {
		e.Spec.CoreTemplate.ObjectMeta.Labels = map[string]string{v2beta1.LabelInstance: "hijack", "team": "a"}
	})
	v := FromEMQX(e, Inputs{})
	if v.Roles.Core.PodLabels[v2beta1.LabelInstance] != "" || v.Roles.Core.PodLabels["team"] != "a" {
		t.Errorf("pod labels = %v", v.Roles.Core.PodLabels)
	}
}

func TestPDBDefaultsAndChoices(t *testing.T) {
	if got := FromEMQX(cluster(nil), Inputs{}).Roles.Core.PDB; got["maxUnavailable"] != 1 {
		t.Errorf("default PDB = %v", got)
	}
	v := FromEMQX(cluster(func(e *v2beta1.EMQX) {
		m := intstrFromInt(2)
		e.Spec.CoreTemplate.Spec.MinAvailable = &m
	}), Inputs{})
	if _, ok := v.Roles.Core.PDB["minAvailable"]; !ok || len(v.Roles.Core.PDB) != 1 {
		t.Errorf("PDB with minAvailable = %v", v.Roles.Core.PDB)
	}
}

func TestServiceTemplateMerge(t *testing.T) {
	v := FromEMQX(cluster(func(e *v2beta1.EMQX) {
		e.Spec.ListenersServiceTemplate = &v2beta1.ServiceTemplate{Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Name: "tcp-default", Port: 1883, NodePort: 31883}, {Name: "extra", Port: 9999}},
		}}
	}), Inputs{})
	svc := v.Services[1]
	if svc.Spec.Type != corev1.ServiceTypeNodePort || len(svc.Spec.Ports) != 5 || svc.Spec.Ports[0].NodePort != 31883 {
		t.Errorf("merged listeners Service = %+v", svc.Spec)
	}
	disabled := FromEMQX(cluster(func(e *v2beta1.EMQX) {
		e.Spec.DashboardServiceTemplate = &v2beta1.ServiceTemplate{Enabled: ptr.To(false)}
	}), Inputs{})
	if len(disabled.Services) != 1 || disabled.Services[0].Name != "c-listeners" {
		t.Errorf("services with the dashboard disabled = %v", disabled.Services)
	}
}

// TestProxyEnvReachesEveryNode: the operator's proxy settings reach cores and replicants; a
// variable the user set in a template wins.
func TestProxyEnvReachesEveryNode(t *testing.T) {
	e := cluster(func(e *v2beta1.EMQX) {
		e.Spec.ReplicantTemplate = &v2beta1.ReplicantTemplate{Spec: v2beta1.ReplicantTemplateSpec{Replicas: ptr.To[int32](1),
			Env: []corev1.EnvVar{{Name: "NO_PROXY", Value: "mine"}}}}
	})
	proxyEnv := []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://proxy:3128"}, {Name: "NO_PROXY", Value: ".svc"}}
	v := FromEMQX(e, Inputs{ReplicantsAllowed: true, ProxyEnv: proxyEnv})
	for role, env := range map[string][]corev1.EnvVar{"core": v.Roles.Core.Container.Env, "replicant": v.Roles.Replicant.Container.Env} {
		if got, n := envValue(env, "HTTPS_PROXY"); got != "http://proxy:3128" || n != 1 {
			t.Errorf("%s HTTPS_PROXY = %q (%d times)", role, got, n)
		}
	}
	if got, n := envValue(v.Roles.Replicant.Container.Env, "NO_PROXY"); got != "mine" || n != 1 {
		t.Errorf("replicant NO_PROXY = %q (%d times), want the user's", got, n)
	}
	if got, _ := envValue(v.Roles.Core.Container.Env, "NO_PROXY"); got != ".svc" {
		t.Errorf("core NO_PROXY = %q", got)
	}
	if _, n := envValue(FromEMQX(e, Inputs{}).Roles.Core.Container.Env, "HTTPS_PROXY"); n != 0 {
		t.Error("proxy env without a proxy")
	}
}
