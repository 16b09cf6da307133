package validation

import (
	"fmt"
	"strings"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/licensing"
	"github.com/broker-ops/emqx-operator/internal/upgradepath"
)

// LicenseForClustering refuses a cluster of more than one node on EMQX 5.9+ without a licence
// for clustering, before any node starts. EMQX's built-in key there is a single-node community
// licence (emqx6-behaviour.md §2): a node inviting itself into the cluster is refused ("has a single
// node license"), and one joined by autoclustering crash-loops when its licence application starts
// (SINGLE_NODE_LICENSE), so the cluster would sit "joining" forever. A licence EMQX already runs
// (posted at runtime, and seen in status) that is not the community one lets the cluster be.
func LicenseForClustering(e *v2beta1.EMQX) *Problem {
	version := upgradepath.OfImage(e.Spec.Image)
	nodes := e.CoreReplicas() + e.ReplicantReplicas()
	if !version.AtLeast(5, 9, 0) || nodes <= 1 {
		return nil
	}
	source, inline := licensing.Given(e)
	return licenseKeyForClustering(e, version, nodes, source, inline)
}

// LicenseSecretForClustering is LicenseForClustering for the key read from spec.license's Secret
// (which the spec alone does not show): "default" there is EMQX's single-node licence too. Another
// community key is opaque here; EMQX's report of it is judged once nodes run.
func LicenseSecretForClustering(e *v2beta1.EMQX, key string) *Problem {
	version := upgradepath.OfImage(e.Spec.Image)
	nodes := e.CoreReplicas() + e.ReplicantReplicas()
	if !version.AtLeast(5, 9, 0) || nodes <= 1 || strings.TrimSpace(key) != "default" {
		return nil
	}
	return licenseKeyForClustering(e, version, nodes, licensing.FromSpec, "default")
}

func licenseKeyForClustering(e *v2beta1.EMQX, version upgradepath.Version, nodes int32, source, inline string) *Problem {
	if source != "" && inline != "default" {
		return nil
	}
	if l := e.Status.License; source == "" && l != nil && l.Type != "" && l.Type != "community" {
		return nil
	}
	given := "no licence is given"
	if source != "" {
		given = "the key given in " + source + " is \"default\", EMQX's single-node licence"
	}
	return &Problem{Reason: licensing.ReasonSingleNode, Message: fmt.Sprintf(
		"EMQX %s clusters more than one node only with a licence for clustering, and %s: the %d nodes asked for would never join. "+
			"Give a licence in spec.license, spec.config.data (license.key) or EMQX_LICENSE__KEY (the key \"evaluation\" allows 25 sessions), or ask for one node",
		version, given, nodes)}
}
