#!/usr/bin/env bash
# make demo / make demo-down: the local cluster, the EMQX simulator and the operator, with a
# 5-node EMQX cluster (3 cores + 2 replicants, like the seed article's 5 nodes) applied and Ready.
# Everything keeps running until `make demo-down`; running `make demo` again after that works
# without clean-up, and a demo whose processes died is cleaned up automatically. A start that fails
# stops what it had started, so no half-started cluster is left behind.
#
# Environment: WORK_DIR (default <repo>/.work), CLUSTER_NAME (default emqx-dev), LOOPBACK_POD_NET
# (default 127.10: pod IPs 127.10.N.x; another one lets a second demo run beside this one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WORK_DIR=${WORK_DIR:-$ROOT/.work}
export CLUSTER_NAME=${CLUSTER_NAME:-emqx-dev}
export NET_MODE=loopback
DEMO_DIR=$WORK_DIR/demo
NS=emqx-demo
SAMPLE=$ROOT/config/samples/apps_v2beta1_emqx.yaml
# The resource by its full name: `emqx` alone could also match a category on a cluster with other
# CRDs installed, and kubectl would then refuse a lookup by name.
RESOURCE=emqxes.apps.emqx.io/emqx
PROCESSES=(operator simulator job-runner)

say() { printf '%s\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

# fail MESSAGE: a start that went wrong stops everything it started (keeping the logs) and says why.
fail() {
  stop_all >/dev/null 2>&1 || true
  rm -f "$DEMO_DIR"/*.pid
  die "$*
  Everything this demo had started is stopped again; logs stay in $DEMO_DIR/logs."
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_all() {
  for p in "${PROCESSES[@]}"; do
    if alive "$DEMO_DIR/$p.pid"; then
      kill "$(cat "$DEMO_DIR/$p.pid")" 2>/dev/null || true
    fi
  done
  sleep 1
  for p in "${PROCESSES[@]}"; do
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

  say "==> Building the tools (first run only: about 10 minutes, one line per tool), the operator and the simulator"
  if ! "$ROOT/hack/tools.sh" build etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl; then
    die "building the tools failed (above). Nothing was started; run make demo again once the cause is fixed."
  fi
  local build_log=$DEMO_DIR/logs/build.log
  say "    building bin/manager, bin/manager-static, bin/emqx-sim and bin/job-runner (go output in $build_log)"
  if ! (cd "$ROOT" && go build -o bin/manager . && CGO_ENABLED=0 go build -o bin/manager-static . &&
      go build -o bin/emqx-sim ./test/simulator/cmd/emqx-sim && go build -o bin/job-runner ./test/jobrunner/cmd/job-runner) >"$build_log" 2>&1; then
    tail -n 20 "$build_log" | sed 's/^/  | /' >&2
    die "building the operator or the simulator failed (the last lines of $build_log above). Nothing was started."
  fi
  KUBECTL=$("$ROOT/hack/tools.sh" path kubectl)

  say "==> Starting the local cluster (kwok: etcd, kube-apiserver, controller-manager, scheduler on 127.0.0.1)"
  KUBECONFIG=$("$ROOT/hack/cluster.sh" up) || fail "the local cluster did not start (output above)"
  export KUBECONFIG
  k() { "$KUBECTL" "$@"; }
  k apply --server-side --force-conflicts -f "$ROOT/config/crd/bases" >/dev/null || fail "installing the CRDs failed"
  k wait --for=condition=Established --timeout=60s -f "$ROOT/config/crd/bases" >/dev/null ||
    fail "the API server does not serve the operator's kinds after installing the CRDs"

  say "==> Starting the EMQX simulator, the operator and the Job runner (logs in $DEMO_DIR/logs)"
  setsid nohup "$ROOT/bin/emqx-sim" --kubeconfig "$KUBECONFIG" --time-scale 0.2 --volumes-dir "$DEMO_DIR/volumes" \
    --control-address-file "$DEMO_DIR/simulator-control-address" >"$DEMO_DIR/logs/simulator.log" 2>&1 </dev/null &
  echo $! >"$DEMO_DIR/simulator.pid"
  # Metrics as an installed operator serves them (HTTPS, token checked): docs/monitoring.md.
  setsid nohup "$ROOT/bin/manager" --leader-elect=false --metrics-bind-address=127.0.0.1:8443 \
    --health-probe-bind-address=127.0.0.1:0 >"$DEMO_DIR/logs/operator.log" 2>&1 </dev/null &
  echo $! >"$DEMO_DIR/operator.pid"
  local jobs_note=""
  if [[ $(id -u) == 0 ]]; then
    # kwok runs no container: the Job runner executes the backup and restore Jobs' commands.
    setsid nohup "$ROOT/bin/job-runner" --kubeconfig "$KUBECONFIG" --manager-static "$ROOT/bin/manager-static" \
      --volumes-dir "$DEMO_DIR/volumes" --work-dir "$DEMO_DIR/jobs" >"$DEMO_DIR/logs/job-runner.log" 2>&1 </dev/null &
    echo $! >"$DEMO_DIR/job-runner.pid"
  else
    jobs_note="Backups and restores stay Running here: running their Job pods needs root (mount namespaces)."
  fi
  sleep 1
  for p in "${PROCESSES[@]}"; do
    [[ -f $DEMO_DIR/$p.pid ]] || continue
    alive "$DEMO_DIR/$p.pid" || fail "the $p exited at once:
$(tail -5 "$DEMO_DIR/logs/$p.log")"
  done

  say "==> Applying a 5-node EMQX cluster (3 cores + 2 replicants) in namespace $NS"
  k create namespace "$NS" --dry-run=client -o yaml | k apply -f - >/dev/null || fail "creating the namespace $NS failed"
  local applied=$SECONDS
  k apply -n "$NS" -f "$SAMPLE" || fail "applying $SAMPLE failed"
  say "    waiting for it to be Ready..."
  if ! k wait -n "$NS" --for=condition=Ready "$RESOURCE" --timeout=120s >/dev/null; then
    say "" >&2
    say "The cluster did not become Ready in 2 minutes. Its conditions:" >&2
    k get -n "$NS" "$RESOURCE" -o jsonpath='{range .status.conditions[*]}  {.type}={.status} ({.reason}): {.message}{"\n"}{end}' >&2 || true
    say "The last lines of the operator's log:" >&2
    tail -n 10 "$DEMO_DIR/logs/operator.log" | sed 's/^/  | /' >&2
    die "the cluster did not become Ready in 2 minutes. The demo stays up for you to look at:
  export KUBECONFIG=$KUBECONFIG; kubectl describe $RESOURCE -n $NS
  Stop it with: make demo-down"
  fi
  say ""
  say "==> Ready: the EMQX cluster took $((SECONDS - applied)) s from apply to Ready ($((SECONDS - start)) s for the whole demo)"
  say ""
  k get emqx,statefulsets,pods,svc -n "$NS" -o wide
  say ""
  say "Status conditions:"
  k get "$RESOURCE" -n "$NS" -o jsonpath='{range .status.conditions[*]}  {.type}={.status} ({.reason}): {.message}{"\n"}{end}'
  say ""
  say "EMQX nodes as the EMQX API reports them:"
  k get "$RESOURCE" -n "$NS" -o jsonpath='{range .status.coreNodes[*]}  {.node}  {.role}  {.node_status}  {.version}{"\n"}{end}{range .status.replicantNodes[*]}  {.node}  {.role}  {.node_status}  {.version}{"\n"}{end}'
  cat <<TXT

Note: the EMQX nodes are simulated. No EMQX runs here: a simulator answers EMQX's REST API on each
pod's IP (127.10.x.y:18083), and kwok plays the kubelet. The operator cannot tell the difference.

Try next:
  export KUBECONFIG=\$(make -s kubeconfig)
  kubectl get emqx -n $NS -w                                   # watch status
  kubectl scale emqx/emqx -n $NS --replicas=4                  # scale the replicants
  kubectl wait -n $NS --for=jsonpath='{.status.readyNodes}'=7/7 emqx/emqx --timeout=2m   # 3 cores + 4
  kubectl get emqx-all -n $NS                                  # every EMQX resource
  kubectl get events -n $NS --sort-by=.metadata.creationTimestamp
  ./bin/manager render -f config/samples/apps_v2beta1_emqx.yaml   # what the operator applies
A backup and a restore: docs/backup.md ("Try it on the demo"). ${jobs_note}
The operator's metrics (https://127.0.0.1:8443/metrics, with a token): docs/monitoring.md.
Logs: $DEMO_DIR/logs/operator.log and simulator.log
Stop everything: make demo-down
TXT
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
