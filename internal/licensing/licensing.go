// Package licensing says where a cluster's licence key comes from and what EMQX's licence rules
// mean for it (emqx6-behaviour.md §2), for the status, the validation and the reconciler alike.
package licensing

import (
	"strings"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// Where a cluster's licence key comes from; Source returns one, or "" when the nodes run
// EMQX's built-in default.
const (
	FromSpec   = "spec.license"
	FromConfig = "spec.config.data (license.key)"
	FromEnv    = "the EMQX_LICENSE__KEY environment variable"
)

// DefaultExpiryWarningDays is the expiry warning of a licence given outside spec.license.
const DefaultExpiryWarningDays = 30

// Source says where the user gave the cluster its licence: spec.license, license.key in
// spec.config.data (the way EMQX's and the vendor's docs set it), or EMQX_LICENSE__KEY in the
// core template's environment. Whichever way, LicenseValid follows what EMQX reports. An
// unparsable config.data counts as no licence there (validation reports it).
func Source(e *v2beta1.EMQX) string {
	source, _ := Given(e)
	return source
}

// Given is Source and, for a key given inline (config.data or env), the key itself
// ("" for spec.license, whose key is in a Secret).
func Given(e *v2beta1.EMQX) (source, inline string) {
	if e.Spec.License != nil {
		return FromSpec, ""
	}
	if conf, err := emqxconf.Parse(e.Spec.Config.Data); err == nil {
		if key, ok, err := emqxconf.Scalar(conf, "license.key"); err == nil && ok && key != "" {
			return FromConfig, key
		}
	}
	for _, env := range e.Spec.CoreTemplate.Spec.Env {
		if env.Name == "EMQX_LICENSE__KEY" {
			return FromEnv, strings.Trim(env.Value, `"`)
		}
	}
	return "", ""
}

// ReasonSingleNode: EMQX 5.9+ runs a cluster of more than one node only with a licence for
// clustering; its built-in key ("default") is a single-node community licence.
const ReasonSingleNode = "SingleNodeLicense"

// ReasonEvaluation: the running licence is EMQX's evaluation key (25 sessions).
const ReasonEvaluation = "EvaluationLicense"

// ExpiryWarningDays is how many days before expiry the licence gets a warning.
func ExpiryWarningDays(e *v2beta1.EMQX) int {
	if e.Spec.License != nil && e.Spec.License.ExpiryWarningDays > 0 {
		return int(e.Spec.License.ExpiryWarningDays)
	}
	return DefaultExpiryWarningDays
}
