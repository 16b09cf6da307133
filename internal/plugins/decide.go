// Package plugins decides what the operator does next to make an EMQX cluster run one plugin as an
// EMQXPlugin asks: install it, copy it to nodes that lack it, configure, start, stop, move it, or
// replace another version of it. Decide is pure: it reads the cluster's plugin list and returns
// one action and a report; the controller carries the action out and looks again.
package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/broker-ops/emqx-operator/internal/emqxapi"
)

// Want is what the EMQXPlugin asks for.
type Want struct {
	NameVsn string
	Enabled bool
	// Config is the wanted configuration; nil leaves the plugin's own.
	Config json.RawMessage
	// ConfigRejected: EMQX refused this Config already; it is not sent again until it changes.
	ConfigRejected bool
	// Position is front, rear, before:<name> or after:<name>; "" leaves EMQX's order.
	Position string
}

// Observed is what the cluster shows.
type Observed struct {
	// Plugins is the cluster's plugin list (GET /plugins), in the cluster's order.
	Plugins []emqxapi.Plugin
	// Nodes are the cluster's running nodes: each must have the plugin.
	Nodes []string
	// Config is the wanted version's configuration (ConfigFound false: it has none). Read only
	// when the wanted version is installed and a Config is wanted.
	Config      json.RawMessage
	ConfigFound bool
}

// ActionKind names the next call.
type ActionKind string

const (
	NoAction ActionKind = ""
	// Install uploads the package (after EMQX's install permission) to one running node, which
	// pushes it to every running node.
	Install ActionKind = "Install"
	// Sync copies the package from a node that has it (Action.Node) to the running nodes that lack it.
	Sync      ActionKind = "Sync"
	SetConfig ActionKind = "SetConfig"
	Start     ActionKind = "Start"
	Stop      ActionKind = "Stop"
	// Remove uninstalls Action.NameVsn (another version of the plugin) from every node.
	Remove ActionKind = "Remove"
	Move   ActionKind = "Move"
)

// Action is one call to EMQX.
type Action struct {
	Kind    ActionKind
	NameVsn string
	// Node is the node to send a Sync to (one that has the package).
	Node string
	// Position is the argument of a Move (front, rear, before:<nv>, after:<nv>).
	Position string
	// Upgrade marks the stop of an older version that the wanted one replaces (the gap starts).
	Upgrade bool
}

// NodeState is the plugin on one running node.
type NodeState struct {
	Node    string
	NameVsn string // the version installed ("" none; another version while upgrading)
	Running bool
}

// Decision is the next action (NoAction when there is none), or why the operator waits, and what
// the plugin looks like on the cluster.
type Decision struct {
	Action Action
	// WaitReason/Message: nothing can be done now (no node runs, the position's target is missing).
	WaitReason, Message string
	Nodes               []NodeState
	// ReadyNodes counts running nodes with the wanted version in the wanted run state.
	ReadyNodes int
	// Installed: the wanted version is on every running node.
	Installed bool
	// ConfigApplied: the cluster runs the wanted Config (true when none is wanted).
	ConfigApplied bool
}

// Converged reports a plugin that is as wanted on every running node.
func (d Decision) Converged() bool {
	return d.Action.Kind == NoAction && d.WaitReason == "" && d.Installed && d.ConfigApplied
}

// Wait reasons.
const (
	ReasonNoRunningNode         = "NoRunningNode"
	ReasonPositionTargetMissing = "PositionTargetMissing"
	// ReasonConfigRejected: EMQX refused the wanted configuration; nothing starts under another.
	ReasonConfigRejected = "ConfigRejected"
)

// Decide returns the next action. Rules, first match wins:
//  1. with no running node there is nothing to install on: wait;
//  2. the wanted version on no node: install it (another version keeps running meanwhile; EMQX
//     installs packages stopped);
//  3. the wanted version missing on some running nodes: copy it from a node that has it;
//  4. a wanted Config that differs from the cluster's: set it before anything starts the plugin;
//     when EMQX refused this very Config it is not sent again, and nothing is stopped or started
//     until the spec changes: the old version keeps running with its own configuration and the
//     wanted one never runs under a configuration the user did not ask for;
//  5. another version running: stop it, then (rule 6) start the wanted one, so two versions never
//     run (EMQX 6.2+ refuses that) and the gap is two calls long;
//  6. enabled and not running on every node: start; disabled and running somewhere: stop;
//  7. another version installed (stopped): remove it;
//  8. the position: move the plugin (wait while the plugin it is placed against is missing).
func Decide(w Want, o Observed) Decision {
	d := Decision{ConfigApplied: true}
	name := Name(w.NameVsn)
	var wanted *emqxapi.Plugin
	var others []emqxapi.Plugin
	for i := range o.Plugins {
		p := o.Plugins[i]
		switch {
		case p.NameVsn() == w.NameVsn:
			wanted = &o.Plugins[i]
		case p.Name == name:
			others = append(others, p)
		}
	}
	d.Nodes, d.ReadyNodes, d.Installed = nodeStates(w, o.Nodes, wanted, others)
	if w.Config != nil {
		d.ConfigApplied = wanted != nil && o.ConfigFound && sameJSON(w.Config, o.Config)
	}

	if len(o.Nodes) == 0 { // rule 1
		d.WaitReason, d.Message = ReasonNoRunningNode, "no node of the cluster is running"
		return d
	}
	if wanted == nil { // rule 2
		d.Action = Action{Kind: Install, NameVsn: w.NameVsn}
		return d
	}
	if !d.Installed { // rule 3
		if from := holder(*wanted, o.Nodes); from != "" {
			d.Action = Action{Kind: Sync, NameVsn: w.NameVsn, Node: from}
		} else { // no running node has it (only nodes not counted as running): install again
			d.Action = Action{Kind: Install, NameVsn: w.NameVsn}
		}
		return d
	}
	if w.Config != nil && !d.ConfigApplied { // rule 4
		if w.ConfigRejected {
			d.WaitReason, d.Message = ReasonConfigRejected, "EMQX refused spec.config; nothing is started or stopped until it changes"
			return d
		}
		d.Action = Action{Kind: SetConfig, NameVsn: w.NameVsn}
		return d
	}
	for _, p := range others { // rule 5
		if anyRunning(p) {
			d.Action = Action{Kind: Stop, NameVsn: p.NameVsn(), Upgrade: w.Enabled}
			return d
		}
	}
	switch { // rule 6
	case w.Enabled && !allRunning(*wanted):
		d.Action = Action{Kind: Start, NameVsn: w.NameVsn}
		return d
	case !w.Enabled && anyRunning(*wanted):
		d.Action = Action{Kind: Stop, NameVsn: w.NameVsn}
		return d
	}
	if len(others) > 0 { // rule 7
		d.Action = Action{Kind: Remove, NameVsn: others[0].NameVsn()}
		return d
	}
	if w.Position != "" { // rule 8
		move, ok := positionMove(w, o.Plugins)
		if !ok {
			d.WaitReason = ReasonPositionTargetMissing
			d.Message = fmt.Sprintf("position %s: no plugin %s is installed", w.Position, strings.SplitN(w.Position, ":", 2)[1])
			return d
		}
		if move != "" {
			d.Action = Action{Kind: Move, NameVsn: w.NameVsn, Position: move}
		}
	}
	return d
}

// nodeStates describes every running node; a node is ready when it has the wanted version in the
// wanted run state.
func nodeStates(w Want, nodes []string, wanted *emqxapi.Plugin, others []emqxapi.Plugin) ([]NodeState, int, bool) {
	byNode := map[string]NodeState{}
	for _, p := range others {
		for _, s := range p.RunningStatus {
			byNode[s.Node] = NodeState{Node: s.Node, NameVsn: p.NameVsn(), Running: s.Status == "running"}
		}
	}
	if wanted != nil {
		for _, s := range wanted.RunningStatus {
			// The wanted version wins the line of a node that has both (during an upgrade).
			byNode[s.Node] = NodeState{Node: s.Node, NameVsn: wanted.NameVsn(), Running: s.Status == "running"}
		}
	}
	sorted := append([]string(nil), nodes...)
	sort.Strings(sorted)
	out := make([]NodeState, 0, len(sorted))
	ready, installed := 0, len(sorted) > 0
	for _, n := range sorted {
		s, ok := byNode[n]
		if !ok {
			s = NodeState{Node: n}
		}
		out = append(out, s)
		if s.NameVsn != w.NameVsn {
			installed = false
			continue
		}
		if s.Running == w.Enabled {
			ready++
		}
	}
	return out, ready, installed
}

// positionMove returns the move that puts the wanted plugin where Position says ("" when it is
// there already); ok is false when the plugin it is placed against is not installed. before:X and
// after:X are met by any place before or after X, so two plugins placed against the same one do
// not move each other for ever.
func positionMove(w Want, list []emqxapi.Plugin) (move string, ok bool) {
	at := func(pred func(emqxapi.Plugin) bool) int {
		for i, p := range list {
			if pred(p) {
				return i
			}
		}
		return -1
	}
	self := at(func(p emqxapi.Plugin) bool { return p.NameVsn() == w.NameVsn })
	kind, target, _ := strings.Cut(w.Position, ":")
	switch kind {
	case "front":
		if self == 0 {
			return "", true
		}
		return "front", true
	case "rear":
		if self == len(list)-1 {
			return "", true
		}
		return "rear", true
	}
	other := at(func(p emqxapi.Plugin) bool { return p.Name == target && p.NameVsn() != w.NameVsn })
	if other < 0 {
		return "", false
	}
	if kind == "before" && self < other || kind == "after" && self > other {
		return "", true
	}
	return kind + ":" + list[other].NameVsn(), true
}

// holder is a running node that has the plugin's package, to copy it from.
func holder(p emqxapi.Plugin, nodes []string) string {
	for _, s := range p.RunningStatus {
		if slices.Contains(nodes, s.Node) {
			return s.Node
		}
	}
	return ""
}

func anyRunning(p emqxapi.Plugin) bool {
	for _, s := range p.RunningStatus {
		if s.Status == "running" {
			return true
		}
	}
	return false
}

func allRunning(p emqxapi.Plugin) bool {
	for _, s := range p.RunningStatus {
		if s.Status != "running" {
			return false
		}
	}
	return len(p.RunningStatus) > 0
}

// sameJSON compares two JSON documents by value (key order and spacing aside).
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// Name is the plugin's name without its version: EMQX's names have no '-' (^[A-Za-z]+\w*).
func Name(nameVsn string) string {
	name, _, _ := strings.Cut(nameVsn, "-")
	return name
}
