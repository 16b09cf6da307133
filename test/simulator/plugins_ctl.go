package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// `emqx ctl` as the rig runs it: `kubectl exec <pod> -- emqx ctl …` reaches the control API
// (POST /sim/nodes/{node}/ctl) through the kwok Exec the simulator makes for the pod (kwok_exec.go)
// and test/simulator/cmd/emqx. Only the plugins command is simulated: `plugins allow` (5.9+) and
// `plugins list`. Output wording that emqx6-behaviour.md does not quote is the simulator's own.

// CtlResult is what `emqx ctl` printed and its exit code.
type CtlResult struct {
	Output   string `json:"output"`
	ExitCode int    `json:"exitCode"`
}

var sha256Arg = regexp.MustCompile(`^sha256:[0-9A-Fa-f]{64}$`)

// Ctl runs `emqx ctl <args…>` on node; the error is for a node the simulator does not know.
// The call is recorded (Method CTL, Path the command line, Status the exit code).
func (s *Simulator) Ctl(node string, args []string) (CtlResult, error) {
	s.w.mu.Lock()
	n := s.w.nodes[node]
	if n == nil {
		s.w.mu.Unlock()
		return CtlResult{}, errNoNode(node)
	}
	res := s.ctlLocked(n, args, time.Now())
	s.w.mu.Unlock()
	s.record(Call{Time: time.Now(), Node: node, Method: "CTL", Path: strings.Join(append([]string{"emqx", "ctl"}, args...), " "),
		Status: res.ExitCode, Body: res.Output})
	return res, nil
}

func (s *Simulator) ctlLocked(n *node, args []string, now time.Time) CtlResult {
	if n.state != running {
		// What emqx ctl prints when the node it talks to is down.
		return CtlResult{Output: fmt.Sprintf("Node %s not responding to pings.\n", n.name), ExitCode: 1}
	}
	if len(args) == 0 || args[0] != "plugins" {
		cmd := ""
		if len(args) > 0 {
			cmd = args[0]
		}
		return CtlResult{Output: fmt.Sprintf("Command not found: %q (the simulator runs `emqx ctl plugins` only)\n", cmd), ExitCode: 1}
	}
	usage := CtlResult{Output: pluginsUsage(n.version), ExitCode: 1}
	sub := args[1:]
	switch {
	case len(sub) == 1 && sub[0] == "list":
		var nvs []string
		for nv := range n.plugins {
			nvs = append(nvs, nv)
		}
		slices.Sort(nvs)
		// One line per installed package with its run state (the real command prints the
		// same facts as a list of maps; the e2e suite reads this as the node's ground truth).
		out := ""
		for _, nv := range nvs {
			state := "stopped"
			if n.plugins[nv].running {
				state = "running"
			}
			out += nv + " " + state + "\n"
		}
		return CtlResult{Output: out}
	case len(sub) >= 1 && sub[0] == "allow" && pluginAllowNeeded(n.version):
		// Before 5.9 `allow` is no subcommand: EMQX prints the plugins usage.
		return s.ctlAllow(n, sub[1:], now, usage)
	}
	return usage
}

// ctlAllow records a grant in n's cluster: `plugins allow <name-vsn> [sha256:<hex>]`. The digest
// is read as 64 hex digits, compared without regard to case at install (UNVERIFIED).
func (s *Simulator) ctlAllow(n *node, args []string, now time.Time, usage CtlResult) CtlResult {
	if len(args) < 1 || len(args) > 2 || args[0] == "" || len(args) == 2 && !sha256Arg.MatchString(args[1]) {
		return usage
	}
	g := pluginGrant{}
	if len(args) == 2 {
		g.sha256 = strings.ToLower(strings.TrimPrefix(args[1], "sha256:"))
	}
	msg := fmt.Sprintf("Plugin %s is allowed to be installed.", args[0])
	if pluginGrantsExpire(n.version) {
		g.expires = now.Add(s.scaled(s.opts.PluginAllowTTL))
		msg += fmt.Sprintf(" The permission expires in %s.", s.opts.PluginAllowTTL)
	}
	s.w.clusterOf(n).plugins.setGrant(args[0], g)
	return CtlResult{Output: msg + "\n"}
}

// pluginsUsage is `emqx ctl plugins` usage for a release (allow from 5.9 on).
func pluginsUsage(version string) string {
	lines := [][2]string{
		{"plugins list", "List all installed plugins"},
		{"plugins describe  Name-Vsn", "Describe an installed plugin"},
		{"plugins install   Name-Vsn", "Install a plugin package placed in plugin's install_dir"},
		{"plugins uninstall Name-Vsn", "Uninstall a plugin. NOTE: it deletes all files in install_dir/Name-Vsn"},
		{"plugins start     Name-Vsn", "Start a plugin"},
		{"plugins stop      Name-Vsn", "Stop a plugin"},
		{"plugins restart   Name-Vsn", "Stop then start a plugin"},
		{"plugins disable   Name-Vsn", "Disable auto-boot"},
		{"plugins enable    Name-Vsn [Position]", "Enable auto-boot at Position in the boot list"},
	}
	if pluginAllowNeeded(version) {
		lines = append(lines, [2]string{"plugins allow     Name-Vsn [sha256:<hex>]", "Allow the package to be installed through the REST API"})
	}
	var b strings.Builder
	b.WriteString("Usage:\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "%-45s # %s\n", l[0], l[1])
	}
	return b.String()
}

// ctlHandler is POST /sim/nodes/{node}/ctl {"args": [...]} → 200 {"output", "exitCode"}.
func (s *Simulator) ctlHandler(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Args []string `json:"args"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	res, err := s.Ctl(r.PathValue("node"), body.Args)
	if err != nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}
