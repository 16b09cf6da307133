// Package upgradepath decides whether an EMQX image change may roll through a running cluster in
// place. The rules are EMQX's own: the supported rolling-upgrade paths of emqx-docs
// (get-started/deploy/rolling-upgrades.md, "Into v6") and the changes that force a recreate or a
// full restart (changes/e6.0.0, 6.0.3, 6.1.1, 6.2.1), as collected in the shared reference
// emqx6-behaviour.md §3. A refused path stops the change before any pod moves; the user may accept
// the risk for one target release with AcceptAnnotation.
package upgradepath

import "fmt"

// AcceptAnnotation, set on the EMQX resource to the target release ("6.1.0"), lets a refused path
// roll anyway. It names the release so that accepting one risky upgrade does not accept the next.
const AcceptAnnotation = "apps.emqx.io/accept-upgrade-path"

// Change is an image change of a running cluster.
type Change struct {
	From, To Version // the running image's release and the new one (zero: unknown)
	// DurableSessions: the configuration enables durable sessions (durable_sessions.enable).
	DurableSessions bool
	// Accepted is AcceptAnnotation's value ("" without it).
	Accepted string
}

// Verdict is what the operator does with the change.
type Verdict struct {
	// Refused: the pods keep their image; Rule and Message say why and what to do.
	Refused bool
	// Rule names the rule that decided (a condition reason); "" for a plain supported path.
	Rule    string
	Message string
	// Warning: the change rolls, with a limitation the user should know (Rule, Message).
	Warning bool
}

// Reasons.
const (
	RuleUnknownVersion         = "UnknownVersion"
	RuleInvalidAcceptance      = "InvalidUpgradeAcceptance"
	RuleDowngradeAcrossMajor   = "DowngradeAcrossMajor"
	RuleDowngradeAcrossDS      = "DowngradeAcrossDSLeaderChange"
	RuleNeedsIntermediate      = "UpgradeNeedsIntermediateRelease"
	RuleDurableSessionsToV6    = "DurableSessionsCannotRollToV6"
	RuleStuckDSTarget          = "UpgradeTargetBreaksDS"
	RuleAccepted               = "UnsupportedUpgradeAccepted"
	RuleRoutingSchemaDowngrade = "DowngradeMayCrossRoutingSchema"
	RuleListenerRate           = "ListenerRateSemanticsChange"
	RuleTelemetryHeaders       = "OpenTelemetryHeadersUnsupported"
	RuleDSLeaderChange         = "DSShardsPauseDuringUpgrade"
	RuleDowngrade              = "Downgrade"
	RuleNeedsFullRestart       = "FullRestartNeededBeforeNextUpgrade"
	RuleUnlistedPath           = "UpgradePathNotListed"
)

// Decide applies the rules in order; the first that matches decides.
func Decide(c Change) Verdict {
	from, to := c.From, c.To
	// 1. The same release (under another tag, say): nothing to check.
	if from == to && from.Known() {
		return Verdict{}
	}
	// 2. A custom tag or a digest: EMQX's paths cannot be checked; allowed, with a warning.
	if !from.Known() || !to.Known() {
		return warn(RuleUnknownVersion, fmt.Sprintf("the upgrade path from %s to %s cannot be checked (an image tag that is not an EMQX release); make sure EMQX supports it in place", from, to))
	}
	refusal := refuse(c)
	if refusal == nil {
		return caution(c)
	}
	// 3. An acceptance names the target release: it applies to that release only.
	switch {
	case c.Accepted == "":
		return *refusal
	case !isRelease(c.Accepted):
		return Verdict{Refused: true, Rule: RuleInvalidAcceptance, Message: fmt.Sprintf(
			"%s is %q, not an EMQX release; set it to the target release (%s) to accept: %s", AcceptAnnotation, c.Accepted, to, refusal.Message)}
	case mustParse(c.Accepted) != to:
		refusal.Message += fmt.Sprintf(" (%s accepts %s, not %s)", AcceptAnnotation, c.Accepted, to)
		return *refusal
	}
	return warn(RuleAccepted, fmt.Sprintf("accepted by %s: %s", AcceptAnnotation, refusal.Message))
}

// refuse: the paths EMQX does not support in place.
func refuse(c Change) *Verdict {
	from, to := c.From, c.To
	switch {
	// 4. 6.x nodes store DS and routing data 5.x cannot read: no rolling back across the major.
	case to.Major < from.Major:
		return refused(RuleDowngradeAcrossMajor, fmt.Sprintf("EMQX cannot roll back from %s to %s in place; restore a backup into a cluster of %s instead", from, to, to))
	// 5. From 6.1.1 DS replicates its leader configuration; once upgraded, DS cannot go back (changes/6.1.1).
	case c.DurableSessions && from.AtLeast(6, 1, 1) && to.Less(Version{6, 1, 1}):
		return refused(RuleDowngradeAcrossDS, fmt.Sprintf("with durable sessions, EMQX cannot roll back from %s to %s: 6.1.1 changed how durable storage replicates (changes/6.1.1)", from, to))
	// 6. 5.0–5.3 route with schema v1: 5.9 first, with a full restart, then on (rolling-upgrades.md).
	case from.Major == 5 && from.Minor <= 3 && (to.AtLeast(5, 10, 0)):
		return refused(RuleNeedsIntermediate, fmt.Sprintf("EMQX %s cannot roll to %s: upgrade to 5.9 first and restart the whole cluster once (routing schema v1), then upgrade to %s", from, to, to))
	// 7. 5.x with durable sessions must be recreated from a clean state on 6.x (changes/e6.0.0, #15496).
	case c.DurableSessions && from.Major == 5 && to.Major >= 6:
		return refused(RuleDurableSessionsToV6, fmt.Sprintf("EMQX %s with durable sessions cannot roll to %s: 6.x keeps durable storage in a new format, so a cluster that ran durable sessions on 5.x must be recreated from a clean state (EMQX 6.0.0 breaking changes)", from, to))
	// 8. A rolling upgrade to 6.2.0 can leave DS Raft stuck, fixed in 6.2.1 (#17055).
	case c.DurableSessions && to == Version{6, 2, 0} && from.Less(Version{6, 2, 0}):
		return refused(RuleStuckDSTarget, fmt.Sprintf("with durable sessions, a rolling upgrade to 6.2.0 can leave durable storage stuck (fixed in 6.2.1); upgrade from %s to 6.2.1 or later instead", from))
	}
	return nil
}

// caution: supported paths with a limitation worth a warning.
func caution(c Change) Verdict {
	from, to := c.From, c.To
	switch {
	// 9. Routing schema v3 (6.0.3, 6.1.2, 6.2.1): after a full restart on it, no rolling downgrade.
	case to.Less(from) && routingV3(from) && !routingV3(to):
		return warn(RuleRoutingSchemaDowngrade, fmt.Sprintf("rolling back from %s to %s works only if the cluster never restarted fully on %s (routing schema v3, changes/6.0.3)", from, to, from))
	// 10. Other rollbacks: EMQX documents upgrades only.
	case to.Less(from):
		return warn(RuleDowngrade, fmt.Sprintf("rolling back from %s to %s: EMQX documents rolling upgrades only", from, to))
	// 11. 6.0.0 changed listener max_conn_rate semantics for 5.9.0, 5.9.1 and 5.10.0 configurations (#15743).
	case to.Major >= 6 && (from == Version{5, 9, 0} || from == Version{5, 9, 1} || from == Version{5, 10, 0}):
		return warn(RuleListenerRate, fmt.Sprintf("listener max_conn_rate means something else on %s than on %s (EMQX #15743); check the listeners' rate limits", to, from))
	// 12. 5.8.7+ OpenTelemetry headers are not understood by 5.9.0 or 5.10.0 (rolling-upgrades.md [3]).
	case from.Series(5, 8) && from.Patch >= 7 && (to == Version{5, 9, 0} || to == Version{5, 10, 0}):
		return warn(RuleTelemetryHeaders, fmt.Sprintf("%s does not understand the OpenTelemetry headers of %s; go to 5.9.1 or 5.10.1 instead, or remove the headers", to, from))
	// 13. 5.0–5.3 to 5.4–5.9 rolls, but routing schema v1 stays until the whole cluster restarts once
	// (rolling-upgrades.md): without that restart the next upgrade, to 5.10+, is not possible.
	case from.Major == 5 && from.Minor <= 3 && to.Major == 5 && to.Minor >= 4:
		return warn(RuleNeedsFullRestart, fmt.Sprintf("after this upgrade to %s, restart the whole cluster once (routing schema v1 from %s) before upgrading to 5.10 or later", to, from))
	// 14. EMQX's table starts at 5.8: a path from 5.4–5.7 further than 5.8 is not listed.
	case from.Major == 5 && from.Minor >= 4 && from.Minor <= 7 && to.AtLeast(5, 9, 0):
		return warn(RuleUnlistedPath, fmt.Sprintf("the path from %s to %s is not in EMQX's supported rolling-upgrade table, which starts at 5.8; upgrading to 5.8 first is the documented way", from, to))
	// 15. Crossing 6.1.1 with durable sessions: shards pause until most of their replicas run the new release.
	case c.DurableSessions && from.Less(Version{6, 1, 1}) && to.AtLeast(6, 1, 1):
		return warn(RuleDSLeaderChange, fmt.Sprintf("durable-storage shards pause until most of their replicas run %s, and the cluster cannot roll back below 6.1.1 afterwards (changes/6.1.1)", to))
	}
	return Verdict{}
}

// routingV3: the release routes with schema v3 once the whole cluster restarted on it.
func routingV3(v Version) bool {
	return v.AtLeast(6, 3, 0) || v.Series(6, 2) && v.Patch >= 1 || v.Series(6, 1) && v.Patch >= 2 || v.Series(6, 0) && v.Patch >= 3
}

func isRelease(s string) bool { _, ok := Parse(s); return ok }

func mustParse(s string) Version { v, _ := Parse(s); return v }

func refused(rule, msg string) *Verdict {
	return &Verdict{Refused: true, Rule: rule, Message: msg + fmt.Sprintf("; to roll anyway, set the annotation %s to the target release", AcceptAnnotation)}
}

func warn(rule, msg string) Verdict { return Verdict{Warning: true, Rule: rule, Message: msg} }
