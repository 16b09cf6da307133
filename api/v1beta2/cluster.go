package v1beta2

import (
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster is what the EMQX 4 reconciler needs of either kind.
// +kubebuilder:object:generate=false
type Cluster interface {
	client.Object
	// Common is the spec both kinds share.
	Common() *EmqxSpec
	// Template is the EMQX configuration both kinds share.
	Template() *EmqxBrokerTemplate
	// LicenseSource is the inline licence and the licence Secret's name (both "" for EmqxBroker).
	LicenseSource() (inline, secretName string)
	// ClusterStatus is the status to fill in.
	ClusterStatus() *EmqxStatus
	// Enterprise reports whether this is an EMQX Enterprise cluster.
	Enterprise() bool
}

func (e *EmqxEnterprise) Common() *EmqxSpec { return &e.Spec.EmqxSpec }
func (e *EmqxEnterprise) Template() *EmqxBrokerTemplate {
	return &e.Spec.EmqxTemplate.EmqxBrokerTemplate
}
func (e *EmqxEnterprise) ClusterStatus() *EmqxStatus { return &e.Status }
func (e *EmqxEnterprise) Enterprise() bool           { return true }
func (e *EmqxEnterprise) LicenseSource() (string, string) {
	return e.Spec.EmqxTemplate.License, e.Spec.EmqxTemplate.LicenseSecretName
}
func (b *EmqxBroker) Common() *EmqxSpec               { return &b.Spec.EmqxSpec }
func (b *EmqxBroker) Template() *EmqxBrokerTemplate   { return &b.Spec.EmqxTemplate }
func (b *EmqxBroker) ClusterStatus() *EmqxStatus      { return &b.Status }
func (b *EmqxBroker) Enterprise() bool                { return false }
func (b *EmqxBroker) LicenseSource() (string, string) { return "", "" }

// Default ports, as EMQX 4.4 listens by default.
const (
	DefaultMQTTPort      = 1883
	DefaultMQTTSPort     = 8883
	DefaultWSPort        = 8083
	DefaultWSSPort       = 8084
	DefaultDashboardPort = 18083
	DefaultAPIPort       = 8081
)

// LicenseKey is the licence file's key in a licence Secret.
const LicenseKey = "emqx.lic"

// ClusterDomain is the DNS domain node names end in (the old API has no field for it).
const ClusterDomain = "cluster.local"

// Defaulted returns the spec with the API's defaults filled in.
func Defaulted(c Cluster) (EmqxSpec, Listener) {
	s := *c.Common().DeepCopy()
	if s.Replicas == nil {
		three := int32(3)
		s.Replicas = &three
	}
	l := *c.Template().Listener.DeepCopy()
	if l.Type == "" {
		l.Type = "ClusterIP"
	}
	def := func(p *int32, v int32) {
		if *p == 0 {
			*p = v
		}
	}
	def(&l.Ports.MQTT, DefaultMQTTPort)
	def(&l.Ports.MQTTS, DefaultMQTTSPort)
	def(&l.Ports.WS, DefaultWSPort)
	def(&l.Ports.WSS, DefaultWSSPort)
	def(&l.Ports.Dashboard, DefaultDashboardPort)
	def(&l.Ports.API, DefaultAPIPort)
	return s, l
}

// Names of the objects the operator makes for a cluster. The StatefulSet and the listeners
// Service carry the cluster's own name, as the EMQX operators of the 4.4 era named them.
func StatefulSetName(c Cluster) string     { return c.GetName() }
func HeadlessServiceName(c Cluster) string { return c.GetName() + "-headless" }
func ListenerServiceName(c Cluster) string { return c.GetName() }
func CredentialsSecretName(c Cluster) string {
	return c.GetName() + "-credentials"
}
func LicenseSecretName(c Cluster) string  { return c.GetName() + "-license" }
func FilesConfigMapName(c Cluster) string { return c.GetName() + "-files" }
func CertSecretName(c Cluster, listener string) string {
	return c.GetName() + "-" + listener + "-cert"
}

// HeadlessFQDN is the headless Service's DNS name.
func HeadlessFQDN(c Cluster) string {
	return fmt.Sprintf("%s.%s.svc.%s", HeadlessServiceName(c), c.GetNamespace(), ClusterDomain)
}

// NodeName is the EMQX node name of pod: stable across restarts, so the node keeps its data.
func NodeName(c Cluster, pod string) string { return "emqx@" + pod + "." + HeadlessFQDN(c) }

// PodOfNode is the pod of an EMQX node name ("" if it is not one of the cluster's).
func PodOfNode(c Cluster, node string) string {
	host, ok := strings.CutPrefix(node, "emqx@")
	if !ok {
		return ""
	}
	pod, ok := strings.CutSuffix(host, "."+HeadlessFQDN(c))
	if !ok {
		return ""
	}
	return pod
}

// Files is the certificate's files: data, with stringData over it (as a Secret reads them).
func (d *CertificateData) Files() map[string][]byte {
	out := make(map[string][]byte, len(d.Data)+len(d.StringData))
	for k, v := range d.Data {
		out[k] = v
	}
	for k, v := range d.StringData {
		out[k] = []byte(v)
	}
	return out
}

// TLSListener is one of EMQX 4's TLS listeners and the certificate the spec gives it.
// +kubebuilder:object:generate=false
type TLSListener struct {
	// Name is the certificate's key in listener.certificate (mqtts, wss): it names the Secret and
	// the mount directory.
	Name string
	// EMQXName is EMQX 4's listener name, e.g. mqtt:ssl:external.
	EMQXName string
	// EnvPrefix is the prefix of the listener's settings in env, e.g. EMQX_LISTENER__SSL__EXTERNAL.
	EnvPrefix string
	// Certificate is nil when the spec gives the listener none.
	Certificate *CertificateData
}

// TLSListeners are the TLS listeners that have a certificate in the spec, in a fixed order.
func (c Certificates) TLSListeners() []TLSListener {
	var out []TLSListener
	for _, l := range []TLSListener{
		{Name: "mqtts", EMQXName: "mqtt:ssl:external", EnvPrefix: "EMQX_LISTENER__SSL__EXTERNAL", Certificate: c.MQTTS},
		{Name: "wss", EMQXName: "mqtt:wss:external", EnvPrefix: "EMQX_LISTENER__WSS__EXTERNAL", Certificate: c.WSS},
	} {
		if l.Certificate != nil {
			out = append(out, l)
		}
	}
	return out
}
