package values

import (
	"strings"
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

func TestTuningProfile(t *testing.T) {
	tuned := func(mut func(*v2beta1.Tuning, *v2beta1.EMQX)) Values {
		e := cluster(func(e *v2beta1.EMQX) {
			e.Spec.Tuning = &v2beta1.Tuning{ConnectionsPerNode: 200000}
			if mut != nil {
				mut(e.Spec.Tuning, e)
			}
		})
		return FromEMQX(e, Inputs{})
	}
	sysctlNames := func(v Values) string {
		var n []string
		for _, s := range v.Roles.Core.Pod.SecurityContext.Sysctls {
			n = append(n, s.Name)
		}
		return strings.Join(n, ",")
	}

	// Safe sysctls only, no privileged container, unless asked.
	v := tuned(nil)
	if got := sysctlNames(v); got != "net.ipv4.ip_local_port_range,net.ipv4.tcp_fin_timeout" {
		t.Errorf("default sysctls = %s", got)
	}
	if len(v.Roles.Core.Pod.InitContainers) != 0 {
		t.Error("an init container without nodeTuning")
	}
	if got, _ := envValue(v.Roles.Core.Container.Env, "EMQX_NODE__PROCESS_LIMIT"); got != "2097152" {
		t.Errorf("process_limit = %s", got)
	}
	if got := sysctlNames(tuned(func(tu *v2beta1.Tuning, _ *v2beta1.EMQX) { tu.UnsafeSysctls = true })); !strings.Contains(got, "net.core.somaxconn") {
		t.Errorf("unsafe sysctls missing: %s", got)
	}
	if ic := tuned(func(tu *v2beta1.Tuning, _ *v2beta1.EMQX) { tu.NodeTuning = true }).Roles.Core.Pod.InitContainers; len(ic) != 1 || ic[0].Name != "node-tuning" {
		t.Errorf("init containers = %+v", ic)
	}

	// The user's settings win: config.data keys are left out of the env, template env overrides,
	// the user's own sysctl value stays.
	v = tuned(func(_ *v2beta1.Tuning, e *v2beta1.EMQX) {
		e.Spec.Config.Data = "listeners.tcp.default.max_connections = 5000\n"
		e.Spec.CoreTemplate.Spec.Env = []corev1.EnvVar{{Name: "EMQX_NODE__MAX_PORTS", Value: "4096"}}
		e.Spec.CoreTemplate.Spec.PodSecurityContext = &corev1.PodSecurityContext{
			Sysctls: []corev1.Sysctl{{Name: "net.ipv4.tcp_fin_timeout", Value: "30"}}}
	})
	env := v.Roles.Core.Container.Env
	if _, n := envValue(env, "EMQX_LISTENERS__TCP__DEFAULT__MAX_CONNECTIONS"); n != 0 {
		t.Error("the profile overrides a key config.data sets")
	}
	if got, n := envValue(env, "EMQX_LISTENERS__SSL__DEFAULT__MAX_CONNECTIONS"); got != "1024000" || n != 1 {
		t.Errorf("ssl max_connections = %q (%d)", got, n)
	}
	if got, n := envValue(env, "EMQX_NODE__MAX_PORTS"); got != "4096" || n != 1 {
		t.Errorf("max_ports = %q (%d times), want the user's", got, n)
	}
	for _, s := range v.Roles.Core.Pod.SecurityContext.Sysctls {
		if s.Name == "net.ipv4.tcp_fin_timeout" && s.Value != "30" {
			t.Errorf("tcp_fin_timeout = %s, want the user's 30", s.Value)
		}
	}

	// Limits grow with the target.
	big := EMQXTuning(2000000)
	want := map[string]string{"node.process_limit": "8388608", "node.max_ports": "4194304",
		"listeners.tcp.default.max_connections": "2500000", "listeners.tcp.default.max_conn_rate": "100000/s"}
	for _, s := range big {
		if w, ok := want[s.Key]; ok && s.Value != w {
			t.Errorf("%s = %s at 2M a node, want %s", s.Key, s.Value, w)
		}
	}
	small := EMQXTuning(10000)
	for _, s := range small {
		if s.Key == "node.dist_buffer_size" && s.Value != "8192" || s.Key == "listeners.tcp.default.acceptors" && s.Value != "16" {
			t.Errorf("%s = %s at 10k a node", s.Key, s.Value)
		}
	}
}

// The evacuation's wait for load balancers comes from the spec (default 10 s): the preStop
// evacuation asks EMQX for it, and the grace period leaves room for it.
func TestPreStopEvacuationFollowsWaitHealthCheck(t *testing.T) {
	for _, tc := range []struct {
		wait      *int32
		flag      string
		gracetime int64
	}{
		{nil, "--wait-health-check 10 ", 10 + 10 + DrainAllowance + 30},
		{ptr.To(int32(60)), "--wait-health-check 60 ", 60 + 10 + DrainAllowance + 30},
		{ptr.To(int32(0)), "--wait-health-check 0 ", 0 + 10 + DrainAllowance + 30},
	} {
		e := cluster(func(e *v2beta1.EMQX) { e.Spec.UpdateStrategy.EvacuationStrategy.WaitHealthCheck = tc.wait })
		core := FromEMQX(e, Inputs{}).Roles.Core
		script := strings.Join(core.Container.Lifecycle.PreStop.Exec.Command, " ")
		if !strings.Contains(script, tc.flag) {
			t.Errorf("wait %v: preStop %q lacks %q", tc.wait, script, tc.flag)
		}
		if got := *core.Pod.TerminationGracePeriodSeconds; got != tc.gracetime {
			t.Errorf("wait %v: grace period %d, want %d", tc.wait, got, tc.gracetime)
		}
	}
}

// The takeover wait comes from the spec (an explicit 0 included, its default when unset): the
// preStop evacuation asks EMQX for it, and the grace period leaves room for it.
func TestPreStopEvacuationFollowsWaitTakeover(t *testing.T) {
	for _, tc := range []struct {
		wait      *int32
		flag      string
		gracetime int64
	}{
		{nil, "--wait-takeover 10 ||", 10 + 10 + DrainAllowance + 30},
		{ptr.To(int32(25)), "--wait-takeover 25 ||", 10 + 25 + DrainAllowance + 30},
		{ptr.To(int32(0)), "--wait-takeover 0 ||", 10 + 0 + DrainAllowance + 30},
	} {
		e := cluster(nil)
		e.Spec.UpdateStrategy.EvacuationStrategy.WaitTakeover = tc.wait // after Default: nil stays nil
		core := FromEMQX(e, Inputs{}).Roles.Core
		script := core.Container.Lifecycle.PreStop.Exec.Command[2]
		if !strings.Contains(script, tc.flag) {
			t.Errorf("wait %v: preStop %q lacks %q", ptr.Deref(tc.wait, -1), script, tc.flag)
		}
		if got := *core.Pod.TerminationGracePeriodSeconds; got != tc.gracetime {
			t.Errorf("wait %v: grace period %d, want %d", ptr.Deref(tc.wait, -1), got, tc.gracetime)
		}
	}
}
