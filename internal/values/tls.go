package values

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

// TLS paths and ports. The pods mount the operator's TLS Secret (<name>-tls) here; its name and the
// file paths never change, so a rotated certificate reaches the nodes as new file content: EMQX
// hands file paths to OTP's ssl, whose PEM cache re-reads changed files about every 2 minutes
// and uses them for new handshakes, without a restart and without touching open connections.
const (
	TLSDir             = "/opt/emqx/etc/tls"
	TLSCertFileKey     = "tls.crt"
	TLSKeyFileKey      = "tls.key"
	TLSCAFileKey       = "ca.crt"
	TLSCertFile        = TLSDir + "/" + TLSCertFileKey
	TLSKeyFile         = TLSDir + "/" + TLSKeyFileKey
	TLSCAFile          = TLSDir + "/" + TLSCAFileKey
	MQTTSPort          = 8883
	WSSPort            = 8084
	DashboardHTTPSPort = 18084
)

// TLSPorts are the TLS listeners of a node that serve the certificate from spec.tls.
func TLSPorts(e *v2beta1.EMQX) []int {
	if e.Spec.TLS == nil {
		return nil
	}
	ports := []int{MQTTSPort, WSSPort}
	if e.Spec.TLS.Dashboard {
		ports = append(ports, DashboardHTTPSPort)
	}
	return ports
}

func tlsVolume(e *v2beta1.EMQX) ([]corev1.Volume, []corev1.VolumeMount) {
	if e.Spec.TLS == nil {
		return nil, nil
	}
	return secretVolume("tls", e.TLSSecretName(), TLSDir)
}

// tlsEnv points EMQX's ssl:default and wss:default listeners (and the dashboard's https listener
// when asked) at the mounted files.
func tlsEnv(e *v2beta1.EMQX) []corev1.EnvVar {
	if e.Spec.TLS == nil {
		return nil
	}
	files := func(prefix string) []corev1.EnvVar {
		return []corev1.EnvVar{
			{Name: prefix + "__SSL_OPTIONS__CERTFILE", Value: TLSCertFile},
			{Name: prefix + "__SSL_OPTIONS__KEYFILE", Value: TLSKeyFile},
			{Name: prefix + "__SSL_OPTIONS__CACERTFILE", Value: TLSCAFile},
		}
	}
	out := append(files("EMQX_LISTENERS__SSL__DEFAULT"), files("EMQX_LISTENERS__WSS__DEFAULT")...)
	if e.Spec.TLS.Dashboard {
		out = append(out, corev1.EnvVar{Name: "EMQX_DASHBOARD__LISTENERS__HTTPS__BIND", Value: "18084"})
		out = append(out, files("EMQX_DASHBOARD__LISTENERS__HTTPS")...)
	}
	return out
}

func dashboardPorts(e *v2beta1.EMQX) []corev1.ServicePort {
	ports := []corev1.ServicePort{{Name: "dashboard", Port: DashboardPort, TargetPort: intstr.FromInt32(DashboardPort), Protocol: corev1.ProtocolTCP}}
	if e.Spec.TLS != nil && e.Spec.TLS.Dashboard {
		ports = append(ports, corev1.ServicePort{Name: "dashboard-https", Port: DashboardHTTPSPort,
			TargetPort: intstr.FromInt32(DashboardHTTPSPort), Protocol: corev1.ProtocolTCP})
	}
	return ports
}
