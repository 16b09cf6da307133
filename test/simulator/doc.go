// Package simulator stands in for EMQX on the local kwok cluster. It watches the cluster's pods and,
// for every running pod of an EMQX cluster, serves EMQX's HTTP API on <podIP>:18083, deriving what a
// real node would from the pod's own spec: node name (EMQX_NODE__NAME or EMQX_NAME@EMQX_HOST), role,
// cookie, DNS discovery name, API keys from the bootstrap file's Secret, licence, image version.
//
// Behaviour follows shared/reference/emqx-rest-api.md and emqx-behaviour.md, traps included:
// GET /nodes omits stopped replicants and lists stopped cores with three keys; force_leave on an
// unknown or stopped replicant is 400 node_not_in_cluster; a replicant joins only cores of the same
// release; an evacuation persists on the node's data volume; an import merges API keys by name.
//
// Durable-storage replication follows shared/reference/emqx6-behaviour.md §1 (ds.go, ds_api.go):
// every EMQX Enterprise 5.9+ and 6.x node has a site (a core's on its data volume, a replicant's
// new at each start), claimed in its cluster's table unless another site holds its node name;
// with durable sessions enabled (EMQX_DURABLE_SESSIONS__ENABLE or emqx.conf) the release's DBs
// are allocated once n_sites sites are there, and replica-set transitions take simulated time
// (Options.DSTransitionTime each, one per shard at a time), evaluated lazily.
//
// Licence gating of clustering follows §2 (licence_gate.go): from 5.9 the default key is the
// single-node community licence; the REST invite asks the peer and is refused, DNS autoclustering
// joins without asking, and the joiner's licence application then fails (SINGLE_NODE_LICENSE, after
// a 30 s grace on the patches that have it): the node crash-loops, a stopped member of the cluster.
//
// Plugins follow §5 (plugins.go, plugins_api.go, plugins_avro.go): packages (built by pluginpkg)
// are node-local and not on the data volume, so a new pod's node fetches each plugin of its
// cluster's plugins.states from a running peer when it boots into or joins the cluster; states,
// configs (checked against the package's Avro schema) and install grants are cluster-wide. From
// 5.9 a REST install needs `emqx ctl plugins allow` (plugins_ctl.go), which tests run in process
// (Simulator.Ctl), on the control API, or with `kubectl exec <pod> -- emqx ctl …` through the kwok
// Exec the simulator makes for each EMQX pod (kwok_exec.go, test/simulator/cmd/emqx).
//
// It drives pod state through kwok Stages (hack/kwok/stages.yaml) by annotating pods, and provisions
// a PersistentVolume for every claim of the "standard" storage class. A control API on loopback lets
// tests set connection counts and inject faults. Durations (boot, join, evacuation ticks, licence
// file re-read) are multiplied by a time scale so end-to-end tests run in seconds.
package simulator
