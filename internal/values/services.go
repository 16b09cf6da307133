package values

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// DefaultListenerPorts are EMQX's default MQTT listeners.
var DefaultListenerPorts = []corev1.ServicePort{
	{Name: "tcp-default", Port: 1883, TargetPort: intstr.FromInt32(1883), Protocol: corev1.ProtocolTCP},
	{Name: "ssl-default", Port: 8883, TargetPort: intstr.FromInt32(8883), Protocol: corev1.ProtocolTCP},
	{Name: "ws-default", Port: 8083, TargetPort: intstr.FromInt32(8083), Protocol: corev1.ProtocolTCP},
	{Name: "wss-default", Port: 8084, TargetPort: intstr.FromInt32(8084), Protocol: corev1.ProtocolTCP},
}

func services(e *v2beta1.EMQX) []Service {
	var out []Service
	if e.Spec.DashboardServiceTemplate.IsEnabled() {
		ports := dashboardPorts(e)
		// The dashboard and REST API run on every node; cores are always there.
		out = append(out, service(e.DashboardServiceName(), e.Spec.DashboardServiceTemplate, ports,
			e.RoleSelectorLabels(v2beta1.RoleCore)))
	}
	if e.Spec.ListenersServiceTemplate.IsEnabled() {
		// Clients go to replicants when there are any (they exist to carry connections), else to cores.
		role := v2beta1.RoleCore
		if e.ReplicantReplicas() > 0 {
			role = v2beta1.RoleReplicant
		}
		out = append(out, service(e.ListenersServiceName(), e.Spec.ListenersServiceTemplate, DefaultListenerPorts,
			e.RoleSelectorLabels(role)))
	}
	return out
}

// service merges the user's template over the operator's defaults: the user's spec wins field by
// field, ports are merged by name (or port number), and the selector is the operator's unless the
// user gave one.
func service(name string, t *v2beta1.ServiceTemplate, defaultPorts []corev1.ServicePort, selector map[string]string) Service {
	spec := corev1.ServiceSpec{}
	if t != nil {
		spec = *t.Spec.DeepCopy()
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	if len(spec.Selector) == 0 {
		spec.Selector = selector
	}
	ports := slices.Clone(defaultPorts)
	for _, u := range spec.Ports {
		if u.Protocol == "" {
			u.Protocol = corev1.ProtocolTCP
		}
		if u.TargetPort.IntVal == 0 && u.TargetPort.StrVal == "" {
			u.TargetPort = intstr.FromInt32(u.Port)
		}
		i := slices.IndexFunc(ports, func(p corev1.ServicePort) bool {
			return (u.Name != "" && p.Name == u.Name) || p.Port == u.Port
		})
		if i >= 0 {
			ports[i] = u
		} else {
			ports = append(ports, u)
		}
	}
	spec.Ports = ports
	s := Service{Name: name, Spec: spec}
	if t != nil {
		s.Labels = withoutSelectorKeys(t.ObjectMeta.Labels)
		s.Annotations = maps.Clone(t.ObjectMeta.Annotations)
	}
	return s
}
