package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/broker-ops/emqx-operator/test/simulator"
)

// SimClient talks to the simulator's control API.
type SimClient struct {
	base string
	http *http.Client
}

// Nodes lists every simulated node.
func (c *SimClient) Nodes() ([]simulator.NodeView, error) {
	var out []simulator.NodeView
	return out, c.do(http.MethodGet, "/sim/nodes", nil, &out)
}

// Calls lists the API calls the nodes answered.
func (c *SimClient) Calls() ([]simulator.Call, error) {
	var out []simulator.Call
	return out, c.do(http.MethodGet, "/sim/calls", nil, &out)
}

// CallCount is how many API calls the nodes have answered since the simulator started.
func (c *SimClient) CallCount() (int64, error) {
	var out struct {
		Total int64 `json:"total"`
	}
	return out.Total, c.do(http.MethodGet, "/sim/calls/count", nil, &out)
}

// SetFaults switches a node's faults.
func (c *SimClient) SetFaults(node string, f simulator.Faults) error {
	return c.do(http.MethodPut, "/sim/nodes/"+url.PathEscape(node)+"/faults", f, nil)
}

// SetConnections sets how many MQTT clients a node holds.
func (c *SimClient) SetConnections(node string, n int64) error {
	return c.do(http.MethodPut, "/sim/nodes/"+url.PathEscape(node)+"/connections", map[string]int64{"connections": n}, nil)
}

func (c *SimClient) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// Data reads the data of the cluster a node belongs to.
func (c *SimClient) Data(node string) (simulator.ClusterData, error) {
	var d simulator.ClusterData
	return d, c.do("GET", "/sim/nodes/"+node+"/data", nil, &d)
}

// SetRecords replaces the records of the cluster a node belongs to.
func (c *SimClient) SetRecords(node string, records map[string]string) error {
	return c.do("PUT", "/sim/nodes/"+node+"/data", simulator.ClusterData{Records: records}, nil)
}

// DS reads the durable storage of the cluster a node belongs to.
func (c *SimClient) DS(node string) (simulator.DSState, error) {
	var d simulator.DSState
	return d, c.do("GET", "/sim/nodes/"+node+"/ds", nil, &d)
}

// Ctl runs `emqx ctl <args>` on a node, as an operator on the node's shell would.
func (c *SimClient) Ctl(node string, args ...string) (simulator.CtlResult, error) {
	var out simulator.CtlResult
	err := c.do(http.MethodPost, "/sim/nodes/"+url.PathEscape(node)+"/ctl", map[string]any{"args": args}, &out)
	return out, err
}
