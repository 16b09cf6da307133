package validation

import (
	"fmt"
	"regexp"

	"github.com/broker-ops/emqx-operator/api/v1beta2"
	"github.com/broker-ops/emqx-operator/internal/tlscert"
)

// Reasons of the v1beta2 kinds.
const (
	ReasonImageNotEMQX4      = "ImageNotEMQX4"
	ReasonInvalidCertificate = "InvalidCertificate"
	ReasonLicenseNotFound    = "LicenseSecretNotFound"
	ReasonInvalidEnv         = "InvalidEnv"
)

var imageTag = regexp.MustCompile(`:[ev]?(\d+)\.\d+(\.\d+)?[^:/]*$`)

// emqx4OwnedEnv are variables the EMQX 4 pods need as the operator sets them: overriding them
// would rename nodes (they would lose their data), split the cluster or lock the operator out.
var emqx4OwnedEnv = []string{"EMQX_NAME", "EMQX_HOST", "EMQX_NODE__NAME", "EMQX_NODE__COOKIE", "EMQX_CLUSTER__DISCOVERY",
	"EMQX_MANAGEMENT__DEFAULT_APPLICATION__ID", "EMQX_MANAGEMENT__DEFAULT_APPLICATION__SECRET", "EMQX_MANAGEMENT__LISTENER__HTTP"}

// Emqx4 checks what the v1beta2 schema cannot: the image is an EMQX 4 release (when its tag says
// which), env does not take over what the operator must set, and listener certificates are pairs.
func Emqx4(c v1beta2.Cluster) *Problem {
	spec := c.Common()
	if m := imageTag.FindStringSubmatch(spec.Image); m != nil && m[1] != "4" {
		return &Problem{Reason: ReasonImageNotEMQX4, Message: fmt.Sprintf(
			"spec.image %s is EMQX %s.x; the v1beta2 kinds run EMQX 4.4 (use the apps.emqx.io/v2beta1 EMQX kind for EMQX 5 and later)", spec.Image, m[1])}
	}
	for _, e := range spec.Env {
		for _, owned := range emqx4OwnedEnv {
			if e.Name == owned {
				return &Problem{Reason: ReasonInvalidEnv, Message: fmt.Sprintf(
					"spec.env sets %s, which the operator manages (node names, cookie, discovery and its own management access); remove it", e.Name)}
			}
		}
	}
	for _, l := range c.Template().Listener.Certificate.TLSListeners() {
		// A listener restarted onto a pair that does not load would stop accepting clients.
		if _, err := tlscert.Parse(l.Certificate.Files()); err != nil {
			return &Problem{Reason: ReasonInvalidCertificate, Message: fmt.Sprintf(
				"spec.emqxTemplate.listener.certificate.%s: %v", l.Name, err)}
		}
	}
	return nil
}
