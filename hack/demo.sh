#!/usr/bin/env bash
# make demo / make demo-down: the local cluster, the EMQX simulator and the operator, with a
# 5-node EMQX cluster (3 cores + 2 replicants, like the seed article's 5 nodes) applied and Ready.
# Everything keeps running until `make demo-down`; running `make demo` again after that works
# without clean-up, and a demo whose processes died is cleaned up automatically.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WORK_DIR=${WORK_DIR:-$ROOT/.work}
export CLUSTER_NAME=${CLUSTER_NAME:-emqx-dev}
export NET_MODE=loopback
DEMO_DIR=$WORK_DIR/demo
NS=emqx-demo
SAMPLE=$ROOT/config/samples/apps_v2beta1_emqx.yaml

say() { printf '%s\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_all() {
  for p in operator simulator; do
    if alive "$DEMO_DIR/$p.pid"; then
      kill "$(cat "$DEMO_DIR/$p.pid")" 2>/dev/null || true
    fi
  done
  sleep 1
  for p in operator simulator; do
    if alive "$DEMO_DIR/$p.pid"; then
      kill -9 "$(cat "$DEMO_DIR/$p.pid")" 2>/dev/null || true
    fi
    rm -f "$DEMO_DIR/$p.pid"
  done
  "$ROOT/hack/cluster.sh" down
}

down() {
  stop_all
  rm -rf "$DEMO_DIR"
  say "demo stopped: operator, simulator and local cluster are gone."
}

port_owner() { # port_owner PORT: who listens on the port on every address (blocks pod IPs)
  ss -ltnpH "sport = :$1" 2>/dev/null | awk '$4 ~ /^(0\.0\.0\.0|\*|\[::\]):/ {print $0}'
}

up() {
  local start=$SECONDS
  if alive "$DEMO_DIR/operator.pid" || alive "$DEMO_DIR/simulator.pid"; then
    die "a demo is already running (operator pid $(cat "$DEMO_DIR/operator.pid" 2>/dev/null || echo '?')).
  Use it:   export KUBECONFIG=$("$ROOT/hack/cluster.sh" kubeconfig); kubectl get emqx -n $NS
  Or stop it first:   make demo-down"
  fi
  if [[ -d $DEMO_DIR ]]; then
    say "demo: cleaning up what a previous demo left behind"
    stop_all >/dev/null 2>&1 || true
  fi
  if owner=$(port_owner 18083) && [[ -n $owner ]]; then
    die "port 18083 is taken on all addresses, so the simulated EMQX nodes cannot serve their API there:
  $owner
  Stop that process (or make it listen on one address only) and run make demo again."
  fi
  mkdir -p "$DEMO_DIR/logs"

  say "==> Building the tools (first run only: about 10 minutes), the operator and the simulator"
  if ! "$ROOT/hack/tools.sh" build etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl; then
    die "building the tools failed (output above). They are built from the Go module proxy: check that it is
  reachable and that there is disk space (about 10 GB), then run make demo again."
  fi
  (cd "$ROOT" && go build -o bin/manager . && go build -o bin/emqx-sim ./test/simulator/cmd/emqx-sim) ||
    die "building the operator or the simulator failed (output above)"
  KUBECTL=$("$ROOT/hack/tools.sh" path kubectl)

  say "==> Starting the local cluster (kwok: etcd, kube-apiserver, controller-manager, scheduler on 127.0.0.1)"
  KUBECONFIG=$("$ROOT/hack/cluster.sh" up) || die "the local cluster did not start (output above)"
  export KUBECONFIG
  k() { "$KUBECTL" "$@"; }
  k apply --server-side --force-conflicts -f "$ROOT/config/crd/bases" >/dev/null
  for _ in $(seq 1 120); do k get emqx -A >/dev/null 2>&1 && break; sleep 0.5; done
  k get emqx -A >/dev/null 2>&1 || die "the API server does not serve the EMQX kind after installing the CRD"

  say "==> Starting the EMQX simulator and the operator (logs in $DEMO_DIR/logs)"
  setsid nohup "$ROOT/bin/emqx-sim" --kubeconfig "$KUBECONFIG" --time-scale 0.2 \
    --control-address-file "$DEMO_DIR/simulator-control-address" >"$DEMO_DIR/logs/simulator.log" 2>&1 </dev/null &
  echo $! >"$DEMO_DIR/simulator.pid"
  setsid nohup "$ROOT/bin/manager" --leader-elect=false --metrics-bind-address=0 \
    --health-probe-bind-address=127.0.0.1:0 >"$DEMO_DIR/logs/operator.log" 2>&1 </dev/null &
  echo $! >"$DEMO_DIR/operator.pid"
  sleep 1
  alive "$DEMO_DIR/simulator.pid" || die "the simulator exited at once: $(tail -3 "$DEMO_DIR/logs/simulator.log")"
  alive "$DEMO_DIR/operator.pid" || die "the operator exited at once: $(tail -3 "$DEMO_DIR/logs/operator.log")"

  say "==> Applying a 5-node EMQX cluster (3 cores + 2 replicants) in namespace $NS"
  k create namespace "$NS" --dry-run=client -o yaml | k apply -f - >/dev/null
  local applied=$SECONDS
  k apply -n "$NS" -f "$SAMPLE"
  say "    waiting for it to be Ready..."
  local phase=""
  for _ in $(seq 1 240); do
    phase=$(k get emqx emqx -n "$NS" -o jsonpath='{.status.phase} {.status.readyNodes}' 2>/dev/null || true)
    [[ $phase == Ready* ]] && break
    sleep 0.5
  done
  [[ $phase == Ready* ]] || die "the cluster did not become Ready in 2 minutes (now: ${phase:-no status}).
  Look at: kubectl describe emqx emqx -n $NS; $DEMO_DIR/logs/operator.log"

  say ""
  say "==> Ready: the EMQX cluster took $((SECONDS - applied)) s from apply to Ready ($((SECONDS - start)) s for the whole demo)"
  say ""
  k get emqx,statefulsets,pods,svc -n "$NS" -o wide
  say ""
  say "Status conditions:"
  k get emqx emqx -n "$NS" -o jsonpath='{range .status.conditions[*]}  {.type}={.status} ({.reason}): {.message}{"\n"}{end}'
  say ""
  say "EMQX nodes as the EMQX API reports them:"
  k get emqx emqx -n "$NS" -o jsonpath='{range .status.coreNodes[*]}  {.node}  {.role}  {.node_status}  {.version}{"\n"}{end}{range .status.replicantNodes[*]}  {.node}  {.role}  {.node_status}  {.version}{"\n"}{end}'
  cat <<TXT

Note: the EMQX nodes are simulated. No EMQX runs here: a simulator answers EMQX's REST API on each
pod's IP (127.10.x.y:18083), and kwok plays the kubelet. The operator cannot tell the difference.

Try next:
  export KUBECONFIG=\$(make -s kubeconfig)
  kubectl get emqx -n $NS -w                                   # watch status
  kubectl scale emqx/emqx -n $NS --replicas=4                  # scale the replicants
  kubectl get events -n $NS --sort-by=.metadata.creationTimestamp
  ./bin/manager render -f config/samples/apps_v2beta1_emqx.yaml   # what the operator applies
Logs: $DEMO_DIR/logs/operator.log and simulator.log
Stop everything: make demo-down
TXT
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
