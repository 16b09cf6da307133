#!/usr/bin/env bash
# The local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok from the
# pinned binaries (hack/tools.sh), started by kwokctl, every listener on 127.0.0.1, state under the
# project's work dir. Fake nodes get pod CIDRs a local process can listen on, so the EMQX simulator
# serves each pod's API on <podIP>:18083 exactly where the operator looks for it.
#
#   hack/cluster.sh up        create (or reuse) the cluster; prints the kubeconfig path
#   hack/cluster.sh down      delete it
#   hack/cluster.sh kubeconfig
#   hack/cluster.sh restart-apiserver   stop kube-apiserver (then kube-scheduler) and start them
#                                       again, as a control-plane restart would (the chaos harness)
#
# Environment:
#   CLUSTER_NAME  default emqx-dev
#   WORK_DIR      default <repo>/.work
#   NET_MODE      loopback (default): pod IPs in 127.10.0.0/16; the API server refuses Endpoints and
#                 EndpointSlices in 127.0.0.0/8, so the endpoint controllers are turned off (nothing
#                 local needs Service endpoints). Needs no root.
#                 netns: the caller already runs in a network namespace of its own where
#                 10.20.0.0/16 is routed to lo (hack/in-netns.sh); EndpointSlices stay real.
#   NODES         number of fake nodes (default 3)
#   MAX_PODS      pods each fake node takes (default 110, at most 250: a node's pod IPs are a /24)
#   SERVICE_CIDR  the Service IP range (default: kube-apiserver's own, a /24 — about 125 EMQX
#                 clusters); a fleet benchmark sets a wider one
#   AUDIT_POLICY, AUDIT_LOG  an audit policy file for kube-apiserver and the file it logs to (both
#                 or neither; the fleet benchmark counts the operator's uncached reads there)
#   APISERVER_ADVERTISE_ADDRESS  the address kube-apiserver advertises; needed only where there is
#                 no default route to pick it from (netns mode sets 10.20.255.254 itself)
#   LOOPBACK_POD_NET  the first two octets of loopback pod IPs (default 127.10); a test that runs a
#                 cluster beside a developer's demo without a network namespace picks another one.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTER_NAME=${CLUSTER_NAME:-emqx-dev}
WORK_DIR=${WORK_DIR:-$ROOT/.work}
NET_MODE=${NET_MODE:-loopback}
NODES=${NODES:-3}
MAX_PODS=${MAX_PODS:-110}
SERVICE_CIDR=${SERVICE_CIDR:-}
AUDIT_POLICY=${AUDIT_POLICY:-}
AUDIT_LOG=${AUDIT_LOG:-}
LOOPBACK_POD_NET=${LOOPBACK_POD_NET:-127.10}
export KWOK_WORKDIR=$WORK_DIR/kwok
CLUSTER_DIR=$WORK_DIR/clusters/$CLUSTER_NAME
KUBECONFIG_PATH=$CLUSTER_DIR/kubeconfig
SIM_BIN=$WORK_DIR/sim-bin

die() { echo "cluster: error: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }

tool() { "$ROOT/hack/tools.sh" path "$1"; }

pod_cidr() { # pod_cidr N
  case "$NET_MODE" in
    loopback) echo "$LOOPBACK_POD_NET.$1.0/24" ;;
    netns) echo "10.20.$1.0/24" ;;
    *) die "NET_MODE must be loopback or netns, not '$NET_MODE'" ;;
  esac
}

# has_default_route: what kube-apiserver looks for to pick the address it advertises (the same
# files). A fresh network namespace has an IPv6 reject route on lo, which does not count.
has_default_route() {
  awk 'NR > 1 && $2 == "00000000" && $1 != "lo" {found = 1} END {exit !found}' /proc/net/route 2>/dev/null ||
    awk '$1 == "00000000000000000000000000000000" && $2 == "00" && $10 != "lo" {found = 1} END {exit !found}' /proc/net/ipv6_route 2>/dev/null
}

write_config() {
  local controllers="*"
  if [[ $NET_MODE == loopback ]]; then
    # Endpoints in 127.0.0.0/8 are refused by the API server: without this the controllers retry
    # for ever, flooding Events and burning CPU.
    controllers="*,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller"
  fi
  local apiserver_patch="" advertise=${APISERVER_ADVERTISE_ADDRESS:-}
  if [[ -z $advertise && $NET_MODE == netns ]]; then
    advertise=10.20.255.254 # one of the namespace's local addresses (hack/in-netns.sh)
  fi
  if [[ -z $advertise ]] && ! has_default_route; then
    die "this machine (or network namespace) has no default route, from which kube-apiserver picks the address it
  advertises. Set APISERVER_ADVERTISE_ADDRESS to a local address that is not in 127.0.0.0/8 and run again."
  fi
  [[ $MAX_PODS =~ ^[0-9]+$ ]] && ((MAX_PODS >= 1 && MAX_PODS <= 250)) ||
    die "MAX_PODS=$MAX_PODS: want 1 to 250 (a fake node's pod IPs are a /24)"
  if [[ -n $AUDIT_POLICY && -z $AUDIT_LOG ]] || [[ -z $AUDIT_POLICY && -n $AUDIT_LOG ]]; then
    die "AUDIT_POLICY and AUDIT_LOG go together: set both or neither"
  fi
  if [[ -n $advertise || -n $SERVICE_CIDR || -n $AUDIT_POLICY ]]; then
    apiserver_patch=$'- name: kube-apiserver\n  extraArgs:'
  fi
  if [[ -n $advertise ]]; then
    apiserver_patch+=$'\n  - {key: advertise-address, value: "'"$advertise"'"}'
  fi
  if [[ -n $SERVICE_CIDR ]]; then
    apiserver_patch+=$'\n  - {key: service-cluster-ip-range, value: "'"$SERVICE_CIDR"'"}'
  fi
  if [[ -n $AUDIT_POLICY ]]; then
    apiserver_patch+=$'\n  - {key: audit-policy-file, value: "'"$AUDIT_POLICY"'"}'
    apiserver_patch+=$'\n  - {key: audit-log-path, value: "'"$AUDIT_LOG"'"}'
  fi
  mkdir -p "$CLUSTER_DIR"
  {
    cat <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeApiserverPort: ${KUBE_APISERVER_PORT:-0}
  etcdBinary: $(tool etcd)
  kubeApiserverBinary: $(tool kube-apiserver)
  kubeControllerManagerBinary: $(tool kube-controller-manager)
  kubeSchedulerBinary: $(tool kube-scheduler)
  kwokControllerBinary: $(tool kwok)
  kubectlBinary: $(tool kubectl)
  disableQPSLimits: true
  # kwok runs \`kubectl exec\` as a local command for pods that have an Exec object (the simulator
  # makes one per EMQX pod): \`kubectl exec <pod> -- emqx ctl …\` runs test/simulator/cmd/emqx.
  enableCRDs: [Exec]
# One controller-manager and one scheduler: no leader election. With it, a kube-apiserver down for
# longer than the renew deadline (10 s: the chaos harness restarts it) makes them exit, and nothing
# here restarts them as a kubelet would.
componentsPatches:
- name: kube-controller-manager
  extraArgs:
  - {key: controllers, value: "$controllers"}
  - {key: pvclaimbinder-sync-period, value: "2s"}
  - {key: leader-elect, value: "false"}
- name: kube-scheduler
  extraArgs:
  - {key: leader-elect, value: "false"}
$apiserver_patch
---
YAML
    cat "$ROOT/hack/kwok/stages.yaml"
  } > "$CLUSTER_DIR/kwokctl.yaml"
}

# build_sim_bin: the EMQX container's `emqx` as kwok runs it for `kubectl exec` (it forwards
# `emqx ctl …` to the simulator's control API; see test/simulator/kwok_exec.go). go build relinks
# only what changed.
build_sim_bin() {
  mkdir -p "$SIM_BIN"
  (cd "$ROOT" && go build -o "$SIM_BIN/emqx" ./test/simulator/cmd/emqx) ||
    die "building test/simulator/cmd/emqx failed (see above)"
}

kubectl_() { "$(tool kubectl)" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

is_up() {
  [[ -f $KUBECONFIG_PATH ]] && kubectl_ get --raw /readyz >/dev/null 2>&1
}

create_nodes() {
  local i
  for ((i = 0; i < NODES; i++)); do
    cat <<YAML
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$((i % 3))
    type: kwok
spec:
  podCIDR: $(pod_cidr "$i")
  podCIDRs: [$(pod_cidr "$i")]
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "$MAX_PODS"}
  capacity: {cpu: "64", memory: 256Gi, pods: "$MAX_PODS"}
---
YAML
  done
  # The simulator provisions a PersistentVolume for each claim of this class (see test/simulator).
  cat <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: sim.emqx.io/local
reclaimPolicy: Delete
volumeBindingMode: Immediate
allowVolumeExpansion: true
YAML
}

up() {
  if is_up; then
    log "cluster $CLUSTER_NAME is already up"
    echo "$KUBECONFIG_PATH"
    return
  fi
  local bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)
  "$ROOT/hack/tools.sh" build "${bins[@]}" || die "building the cluster's tools failed (see above); fix the error and run again"
  # A previous cluster whose processes died (or half of them) leaves state behind: remove it first.
  local stale; stale=$(cluster_pids)
  "$(tool kwokctl)" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" >/dev/null 2>&1 || true
  wait_gone $stale
  write_config
  build_sim_bin
  log "starting cluster $CLUSTER_NAME ($NET_MODE pod IPs) in $KWOK_WORKDIR"
  # kwok-controller inherits this PATH: the commands of `kubectl exec` are looked up in it.
  if ! PATH="$SIM_BIN:$PATH" "$(tool kwokctl)" create cluster --name "$CLUSTER_NAME" --config "$CLUSTER_DIR/kwokctl.yaml" \
      --kubeconfig "$KUBECONFIG_PATH" --wait 60s >"$CLUSTER_DIR/create.log" 2>&1; then
    cat "$CLUSTER_DIR/create.log" >&2
    die "kwokctl could not start the cluster (log above; component logs in $KWOK_WORKDIR/clusters/$CLUSTER_NAME/logs)"
  fi
  # kwokctl can return before the API server it started answers, or (ports are reused: it picks
  # them from 32767 down) while an API server of a cluster that was just deleted still holds the
  # port. Only an answer checked against this cluster's own CA counts.
  local i
  for ((i = 0; i < 120; i++)); do is_up && break; sleep 0.5; done
  if ! is_up; then
    show_component_logs
    die "the API server of cluster $CLUSTER_NAME does not answer at $(server_address) (component logs above)"
  fi
  create_nodes | kubectl_ apply -f - >/dev/null
  echo "$KUBECONFIG_PATH"
}

server_address() { sed -n 's/^ *server: //p' "$KUBECONFIG_PATH" 2>/dev/null | head -1; }

show_component_logs() {
  local f
  for f in "$KWOK_WORKDIR/clusters/$CLUSTER_NAME/logs/"*.log; do
    [[ -f $f ]] || continue
    echo "--- the last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
}

# cluster_pids: the processes of this cluster (kwokctl runs them from the cluster's own directory).
cluster_pids() { pgrep -f -- "$KWOK_WORKDIR/clusters/$CLUSTER_NAME/bin/" || true; }

down() {
  local pids
  pids=$(cluster_pids)
  # Keep the components' logs of the last cluster beside the tests' logs, for a post-mortem.
  if [[ -d $KWOK_WORKDIR/clusters/$CLUSTER_NAME/logs ]]; then
    rm -rf "$WORK_DIR/logs/components" && mkdir -p "$WORK_DIR/logs" &&
      cp -r "$KWOK_WORKDIR/clusters/$CLUSTER_NAME/logs" "$WORK_DIR/logs/components" ||
      log "cluster $CLUSTER_NAME: could not keep the component logs in $WORK_DIR/logs/components"
  fi
  if [[ -d $KWOK_WORKDIR/clusters/$CLUSTER_NAME ]]; then
    "$(tool kwokctl)" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" >/dev/null 2>&1 || true
  fi
  # kwokctl signals the components and returns; wait until they are gone, so that the next cluster
  # (on the same ports) never meets this one's API server.
  wait_gone $pids
  rm -rf "$CLUSTER_DIR"
}

# running PID: the process exists and is not a zombie. A component whose parent exited is
# reparented to a process that may never reap it: once it exits it stays a zombie, which kill -0
# still finds, and waiting for it to go would always take the full 20 s.
running() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ $state != Z ]]
}

wait_gone() { # wait_gone PID...: up to 20 s, then SIGKILL
  local pid i
  [[ $# -gt 0 ]] || return 0
  for ((i = 0; i < 200; i++)); do
    local alive=0
    for pid in "$@"; do running "$pid" && alive=1; done
    [[ $alive == 0 ]] && return 0
    sleep 0.1
  done
  log "cluster $CLUSTER_NAME: components still running 20 s after the delete; killing them"
  kill -9 "$@" 2>/dev/null || true
}

# restart_component NAME: the same binary and command line, in the same directory, logging to the
# same file; the pid file is rewritten so that `down` (kwokctl delete) still stops it. The command
# line is kept beside the pid file the first time it is read: a component that already exited by
# itself (kube-scheduler exits when it loses its lease over a long API server outage) is a zombie
# or gone, its /proc cmdline empty, and was once restarted as a bare `setsid` (chaos soak SEED=1
# at 04:16:42: no scheduler any more, no pod scheduled, no cluster converged). The old pid is
# signalled only while its command line is still the component's, never a pid reused since.
restart_component() {
  local name=$1 dir=$KWOK_WORKDIR/clusters/$CLUSTER_NAME
  local pidfile=$dir/pids/$name.pid cmdfile=$dir/pids/$name.cmdline pid
  pid=$(cat "$pidfile" 2>/dev/null) || die "cluster $CLUSTER_NAME: no $name pid file ($pidfile)"
  local -a cmd live=()
  if [[ -r /proc/$pid/cmdline ]]; then mapfile -d '' live <"/proc/$pid/cmdline" 2>/dev/null || live=(); fi
  if [[ ! -s $cmdfile ]]; then
    [[ ${#live[@]} -gt 0 ]] || die "cluster $CLUSTER_NAME: $name (pid $pid) is not running and its command line was never kept"
    cp "/proc/$pid/cmdline" "$cmdfile.tmp" && mv "$cmdfile.tmp" "$cmdfile"
  fi
  mapfile -d '' cmd <"$cmdfile"
  [[ ${#cmd[@]} -gt 0 ]] || die "cluster $CLUSTER_NAME: the kept command line of $name ($cmdfile) is empty"
  if [[ ${#live[@]} -gt 0 && "${live[*]}" == "${cmd[*]}" ]]; then
    kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
  else
    log "cluster $CLUSTER_NAME: $name (pid $pid) had already exited; starting it again"
  fi
  (cd "$dir" && exec setsid "${cmd[@]}" >>"$dir/logs/$name.log" 2>&1 </dev/null) &
  echo $! >"$pidfile"
}

# restart_apiserver: kube-apiserver stops and starts again, as in a control-plane restart; so does
# kube-scheduler once it answers. After API server restarts that cut a binding short, kube-scheduler
# was seen to log "Scheduler cache is corrupted" and schedule nothing more (chaos seed 20261206: new
# pods Pending for minutes with no scheduling attempt); a fresh one starts from a fresh cache.
restart_apiserver() {
  local i
  restart_component kube-apiserver
  for ((i = 0; i < 120; i++)); do is_up && break; sleep 0.25; done
  is_up || die "cluster $CLUSTER_NAME: kube-apiserver does not answer 30 s after its restart (see its log)"
  restart_component kube-scheduler
}

case "${1:-}" in
  up) up ;;
  restart-apiserver) restart_apiserver ;;
  down) down ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  *) die "usage: $0 up|down|kubeconfig|restart-apiserver" ;;
esac
