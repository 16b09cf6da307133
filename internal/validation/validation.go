// Package validation checks what only the operator can check, before anything is applied:
// the CRD schema cannot parse HOCON or look into Secrets.
package validation

import (
	"fmt"
	"regexp"
	"strings"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/emqxconf"
)

// Problem is a spec error the user must fix. Most cannot go away without a spec change; a
// missing dependency (a Secret not created yet) can, so it is retried (Retry).
type Problem struct {
	Reason  string
	Message string
	// Retry: the problem lies outside the spec and may resolve itself (a referenced Secret that
	// does not exist yet, and so is not watched yet); look again later.
	Retry bool
}

func (p *Problem) Error() string { return p.Reason + ": " + p.Message }

// Reasons.
const (
	ReasonInvalidConfig       = "InvalidConfig"
	ReasonInvalidBootstrapKey = "InvalidBootstrapAPIKey"
	ReasonSecretNotFound      = "SecretNotFound"
)

// readOnlyRoots are configuration roots EMQX reads from its environment in this operator's pods;
// setting them in config.data would be silently overridden by the operator's env.
var readOnlyKeys = []string{"node.name", "node.cookie", "node.role", "cluster.discovery_strategy"}

// Spec runs every check the operator makes on the spec alone before anything is applied, in
// order (the reconciler's Validate step and `manager render` alike): the configuration, the
// annotations, the licence for clustering, durable sessions' need of persistence.
func Spec(e *v2beta1.EMQX) *Problem {
	for _, check := range []func(*v2beta1.EMQX) *Problem{Config, Annotations, LicenseForClustering, DurableSessions} {
		if p := check(e); p != nil {
			return p
		}
	}
	return nil
}

// Config checks that spec.config.data is HOCON EMQX could parse.
func Config(e *v2beta1.EMQX) *Problem {
	data := strings.TrimSpace(e.Spec.Config.Data)
	if data == "" {
		return nil
	}
	conf, err := emqxconf.Parse(data)
	if err != nil {
		return &Problem{Reason: ReasonInvalidConfig, Message: fmt.Sprintf("spec.config.data is not valid HOCON: %v", err)}
	}
	for _, k := range readOnlyKeys {
		v, err := emqxconf.Lookup(conf, k)
		if err != nil {
			return &Problem{Reason: ReasonInvalidConfig, Message: fmt.Sprintf("spec.config.data is not valid EMQX configuration: %v", err)}
		}
		if v != nil {
			return &Problem{Reason: ReasonInvalidConfig, Message: fmt.Sprintf(
				"spec.config.data sets %s, which the operator manages (node names, cookie, role and discovery come from the pod's environment); remove it", k)}
		}
	}
	return nil
}

var bootstrapKeyPattern = regexp.MustCompile(`^[a-zA-Z\d\-_]+$`)

// BootstrapKey checks a key read from a Secret against the rules the CRD enforces on inline keys.
func BootstrapKey(key, secret string, i int) *Problem {
	if !bootstrapKeyPattern.MatchString(key) {
		return &Problem{Reason: ReasonInvalidBootstrapKey, Message: fmt.Sprintf(
			"bootstrapAPIKeys[%d]: the key from the Secret must match %s", i, bootstrapKeyPattern)}
	}
	if len(secret) < 3 || len(secret) > 128 {
		return &Problem{Reason: ReasonInvalidBootstrapKey, Message: fmt.Sprintf(
			"bootstrapAPIKeys[%d]: the secret from the Secret must be 3 to 128 characters", i)}
	}
	return nil
}
