#!/usr/bin/env bash
# Runs one e2e test binary from its package directory, in a network namespace of its own when
# E2E_NET_MODE=netns (pod IPs outside 127.0.0.0/8 keep Services and EndpointSlices real).
#   hack/run-e2e.sh PACKAGE_DIR BINARY TIMEOUT [TEST FLAGS...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$1 bin=$2 timeout=$3
cd "$ROOT/$dir"
if [[ ${E2E_NET_MODE:-loopback} == netns ]]; then
  exec env E2E_NET_MODE=netns "$ROOT/hack/in-netns.sh" "$ROOT/$bin" -test.v -test.count=1 -test.timeout="$timeout" "${@:4}"
fi
exec env E2E_NET_MODE=loopback "$ROOT/$bin" -test.v -test.count=1 -test.timeout="$timeout" "${@:4}"
