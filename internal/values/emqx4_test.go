package values

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
)

func enterprise() *v1beta2.EmqxEnterprise {
	return &v1beta2.EmqxEnterprise{ObjectMeta: metav1.ObjectMeta{Name: "ee", Namespace: "iot"},
		Spec: v1beta2.EmqxEnterpriseSpec{EmqxSpec: v1beta2.EmqxSpec{Image: "emqx/emqx-ee:4.4.1"}}}
}

func TestEmqx4FilesRenderWhatEMQX4Reads(t *testing.T) {
	ee := enterprise()
	ee.Spec.EmqxTemplate.ACL = []v1beta2.ACL{
		{Permission: "allow", Username: "dashboard", Action: "subscribe", Topics: v1beta2.ACLTopics{Filter: []string{"$SYS/#"}}},
		{Permission: "deny", ClientID: `we"ird`, Topics: v1beta2.ACLTopics{Equal: []string{"#"}}},
		{Permission: "allow", IPAddress: "127.0.0.1", Action: "pubsub", Topics: v1beta2.ACLTopics{Filter: []string{"$SYS/#", "#"}}},
		{Permission: "allow"},
	}
	ee.Spec.EmqxTemplate.Plugins = []v1beta2.Plugin{{Name: "emqx_management", Enable: true}, {Name: "emqx_auth_http", Enable: false}}
	ee.Spec.EmqxTemplate.Modules = []v1beta2.Module{{Name: "internal_acl", Enable: true, Configs: &runtime.RawExtension{Raw: []byte(`{"acl_rule_file":"etc/acl.conf"}`)}}}
	files, err := Emqx4FileContents(ee)
	if err != nil {
		t.Fatal(err)
	}
	wantACL := `{allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}.
{deny, {client, "we\"ird"}, pubsub, [{eq, "#"}]}.
{allow, {ipaddr, "127.0.0.1"}, pubsub, ["$SYS/#", "#"]}.
{allow, all, pubsub, ["#"]}.
`
	if files[Emqx4ACLKey] != wantACL {
		t.Errorf("acl.conf:\n%s\nwant:\n%s", files[Emqx4ACLKey], wantACL)
	}
	if files[Emqx4PluginsKey] != "{emqx_management, true}.\n{emqx_auth_http, false}.\n" {
		t.Errorf("loaded_plugins %q", files[Emqx4PluginsKey])
	}
	if files[Emqx4ModulesKey] != `[{"name":"internal_acl","enable":true,"configs":{"acl_rule_file":"etc/acl.conf"}}]` {
		t.Errorf("loaded_modules (Enterprise) %q", files[Emqx4ModulesKey])
	}
	broker := &v1beta2.EmqxBroker{Spec: v1beta2.EmqxBrokerSpec{EmqxTemplate: v1beta2.EmqxBrokerTemplate{
		Modules: []v1beta2.Module{{Name: "emqx_mod_presence", Enable: true}}}}}
	if files, err = Emqx4FileContents(broker); err != nil || files[Emqx4ModulesKey] != "{emqx_mod_presence, true}.\n" {
		t.Errorf("loaded_modules (Broker) %q, %v", files[Emqx4ModulesKey], err)
	}
	if _, ok := files[Emqx4ACLKey]; ok {
		t.Error("acl.conf written without spec.emqxTemplate.acl: EMQX's default file must stay")
	}
}

func TestEmqx4ListenerServiceFollowsTheListenerSpec(t *testing.T) {
	ee := enterprise()
	l := &ee.Spec.EmqxTemplate.Listener
	l.Type = corev1.ServiceTypeNodePort
	l.Ports.MQTT = 11883
	l.NodePorts.MQTT = 31883
	l.LoadBalancerIP = "192.0.2.1" // ignored: not a LoadBalancer
	v := FromEmqx4(ee, Emqx4Inputs{})
	svc := v.Services[0].Spec
	if svc.Type != corev1.ServiceTypeNodePort || svc.LoadBalancerIP != "" {
		t.Errorf("service %+v", svc)
	}
	if p := svc.Ports[0]; p.Name != "mqtt" || p.Port != 11883 || p.NodePort != 31883 || p.TargetPort.StrVal != "mqtt" {
		t.Errorf("mqtt port %+v", p)
	}
	if p := svc.Ports[5]; p.Name != "api" || p.Port != 8081 || p.NodePort != 0 {
		t.Errorf("api port %+v", p)
	}
	c := v.Roles.Core.Container
	if c.Ports[0].ContainerPort != 11883 || env4(c.Env, "EMQX_LISTENER__TCP__EXTERNAL") != "11883" {
		t.Errorf("the node does not listen where the Service sends clients: %+v %s", c.Ports[0], env4(c.Env, "EMQX_LISTENER__TCP__EXTERNAL"))
	}
}

func TestEmqx4UserEnvReplacesTheOperatorsOnce(t *testing.T) {
	ee := enterprise()
	ee.Spec.Env = []corev1.EnvVar{{Name: "EMQX_LISTENER__TCP__EXTERNAL", Value: "0.0.0.0:1883"}, {Name: "EMQX_NODE__MAX_PORTS", Value: "1048576"}}
	env := FromEmqx4(ee, Emqx4Inputs{}).Roles.Core.Container.Env
	n := 0
	for _, e := range env {
		if e.Name == "EMQX_LISTENER__TCP__EXTERNAL" {
			n++
		}
	}
	if n != 1 || env4(env, "EMQX_LISTENER__TCP__EXTERNAL") != "0.0.0.0:1883" || env4(env, "EMQX_NODE__MAX_PORTS") != "1048576" {
		t.Errorf("env %+v", env)
	}
	if env[0].Name != "POD_NAME" || !strings.HasPrefix(env4(env, "EMQX_HOST"), "$(POD_NAME).ee-headless.iot.svc.") {
		t.Errorf("EMQX_HOST must follow POD_NAME: %+v", env[:3])
	}
}

func env4(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
