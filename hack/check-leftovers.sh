#!/usr/bin/env bash
# Fails when a test run left a process of the local cluster, the simulator or the operator behind,
# or something listening on the simulated EMQX API port.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
left=$(pgrep -af -- "$ROOT/.work/e2e|$ROOT/bin/e2e.test|$ROOT/bin/emqx-sim --kubeconfig $ROOT/.work/e2e" || true)
listening=$(ss -ltnH 'sport = :18083' 2>/dev/null | grep -v -- "127.10." || true)
if [[ -n $left || -n $listening ]]; then
  echo "test run left things behind:" >&2
  [[ -n $left ]] && echo "$left" >&2
  [[ -n $listening ]] && echo "$listening" >&2
  exit 1
fi
echo "no process or port left behind"
