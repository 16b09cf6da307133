// Command emqx is the EMQX container's `emqx` as the kwok rig sees it: kwok runs
// `kubectl exec <pod> -- emqx ctl …` as a local command (hack/cluster.sh puts this one first on
// its PATH), with EMQX_SIM_CTL_URL set by the pod's Exec object to the simulator's control
// endpoint for the pod's node. It sends the ctl arguments there, prints the node's output and
// exits with its exit code. Only `emqx ctl` is simulated.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv("EMQX_SIM_CTL_URL"), os.Stdout, os.Stderr))
}

func run(args []string, ctlURL string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "ctl" {
		fmt.Fprintln(stderr, "emqx (simulated): only `emqx ctl` is simulated")
		return 1
	}
	if ctlURL == "" {
		fmt.Fprintln(stderr, "emqx (simulated): EMQX_SIM_CTL_URL is not set (the pod's kwok Exec sets it)")
		return 1
	}
	ctlArgs := args[1:]
	if ctlArgs == nil {
		ctlArgs = []string{}
	}
	res, err := call(ctlURL, ctlArgs)
	if err != nil {
		fmt.Fprintln(stderr, "emqx (simulated):", err)
		return 1
	}
	fmt.Fprint(stdout, res.Output)
	return res.ExitCode
}

type ctlResult struct {
	Output   string `json:"output"`
	ExitCode int    `json:"exitCode"`
}

func call(ctlURL string, args []string) (ctlResult, error) {
	body, err := json.Marshal(map[string][]string{"args": args})
	if err != nil {
		return ctlResult{}, err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(ctlURL, "application/json", bytes.NewReader(body))
	if err != nil {
		return ctlResult{}, err
	}
	defer resp.Body.Close() //nolint:errcheck
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return ctlResult{}, fmt.Errorf("the simulator answered %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	var res ctlResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return ctlResult{}, fmt.Errorf("the simulator's answer is not a ctl result: %w", err)
	}
	return res, nil
}
