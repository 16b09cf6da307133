#!/usr/bin/env bash
# Runs a command inside a fresh network namespace where 10.20.0.0/16 is routed to lo, so fake
# nodes can have pod CIDRs outside 127.0.0.0/8 (real Endpoints/EndpointSlices) while every
# address stays local to the namespace: no traffic leaves it. Needs root (unshare -n).
#   hack/in-netns.sh CMD [ARGS...]
set -euo pipefail
if [[ ${IN_EMQXOP_NETNS:-} != 1 ]]; then
  exec unshare --net --fork --kill-child -- env IN_EMQXOP_NETNS=1 "$0" "$@"
fi
ip link set lo up
ip route add local 10.20.0.0/16 dev lo
exec "$@"
