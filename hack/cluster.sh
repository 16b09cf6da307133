#!/usr/bin/env bash
# The local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok from the
# pinned binaries (hack/tools.sh), started by kwokctl, every listener on 127.0.0.1, state under the
# project's work dir. Fake nodes get pod CIDRs a local process can listen on, so the EMQX simulator
# serves each pod's API on <podIP>:18083 exactly where the operator looks for it.
#
#   hack/cluster.sh up        create (or reuse) the cluster; prints the kubeconfig path
#   hack/cluster.sh down      delete it
#   hack/cluster.sh kubeconfig
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
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTER_NAME=${CLUSTER_NAME:-emqx-dev}
WORK_DIR=${WORK_DIR:-$ROOT/.work}
NET_MODE=${NET_MODE:-loopback}
NODES=${NODES:-3}
export KWOK_WORKDIR=$WORK_DIR/kwok
CLUSTER_DIR=$WORK_DIR/clusters/$CLUSTER_NAME
KUBECONFIG_PATH=$CLUSTER_DIR/kubeconfig

die() { echo "cluster: error: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }

tool() { "$ROOT/hack/tools.sh" path "$1"; }

pod_cidr() { # pod_cidr N
  case "$NET_MODE" in
    loopback) echo "127.10.$1.0/24" ;;
    netns) echo "10.20.$1.0/24" ;;
    *) die "NET_MODE must be loopback or netns, not '$NET_MODE'" ;;
  esac
}

write_config() {
  local controllers="*"
  if [[ $NET_MODE == loopback ]]; then
    # Endpoints in 127.0.0.0/8 are refused by the API server: without this the controllers retry
    # for ever, flooding Events and burning CPU.
    controllers="*,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller"
  fi
  local apiserver_patch=""
  if [[ $NET_MODE == netns ]]; then
    # The namespace has no default route, from which kube-apiserver would pick the address it
    # advertises; give it one of the namespace's local addresses instead.
    apiserver_patch=$'- name: kube-apiserver\n  extraArgs:\n  - {key: advertise-address, value: "10.20.255.254"}'
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
componentsPatches:
- name: kube-controller-manager
  extraArgs:
  - {key: controllers, value: "$controllers"}
  - {key: pvclaimbinder-sync-period, value: "2s"}
$apiserver_patch
---
YAML
    cat "$ROOT/hack/kwok/stages.yaml"
  } > "$CLUSTER_DIR/kwokctl.yaml"
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
  allocatable: {cpu: "64", memory: 256Gi, pods: "110"}
  capacity: {cpu: "64", memory: 256Gi, pods: "110"}
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
  # A previous cluster whose processes died leaves state behind: remove it first.
  "$(tool kwokctl)" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" >/dev/null 2>&1 || true
  write_config
  log "starting cluster $CLUSTER_NAME ($NET_MODE pod IPs) in $KWOK_WORKDIR"
  if ! "$(tool kwokctl)" create cluster --name "$CLUSTER_NAME" --config "$CLUSTER_DIR/kwokctl.yaml" \
      --kubeconfig "$KUBECONFIG_PATH" --wait 60s >"$CLUSTER_DIR/create.log" 2>&1; then
    cat "$CLUSTER_DIR/create.log" >&2
    die "kwokctl could not start the cluster (log above; component logs in $KWOK_WORKDIR/clusters/$CLUSTER_NAME/logs)"
  fi
  create_nodes | kubectl_ apply -f - >/dev/null
  echo "$KUBECONFIG_PATH"
}

down() {
  if [[ -d $KWOK_WORKDIR/clusters/$CLUSTER_NAME ]]; then
    "$(tool kwokctl)" delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" >/dev/null 2>&1 || true
  fi
  rm -rf "$CLUSTER_DIR"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  *) die "usage: $0 up|down|kubeconfig" ;;
esac
