#!/usr/bin/env bash
# The PROJECT file must keep operator-sdk usable from the repo root (layout go.kubebuilder.io/v4:
# operator-sdk >= 1.37 refuses every command on the old hybrid Helm layout key).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$ROOT"
"$("$ROOT/hack/tools.sh" path operator-sdk)" generate kustomize manifests -q --interactive=false --output-dir "$out" ||
  { echo "operator-sdk refuses this project (see above): check PROJECT" >&2; exit 1; }
test -f "$out/bases/emqx-operator.clusterserviceversion.yaml" || { echo "operator-sdk produced no CSV base" >&2; exit 1; }
echo "operator-sdk works with PROJECT"
