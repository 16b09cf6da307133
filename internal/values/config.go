package values

import (
	"strings"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
)

const confHeader = `## Written by emqx-operator from the EMQX resource's spec.config.data.
## Node name, cookie, role and cluster discovery come from the environment.
`

// EMQXConf is the content of emqx.conf for a cluster.
func EMQXConf(e *v2beta1.EMQX) string {
	data := strings.TrimSpace(e.Spec.Config.Data)
	if data == "" {
		return confHeader
	}
	return confHeader + data + "\n"
}
