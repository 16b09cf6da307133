#!/usr/bin/env bash
# Generates the OLM bundle (bundle/, bundle.Dockerfile) from config/ and validates it.
#
#   hack/bundle.sh            generate + validate (what `make bundle` runs)
#   hack/bundle.sh validate   validate the bundle as it is
#
# operator-sdk rewrites the CSV's createdAt on every run; the script keeps the committed value, so
# a run on a clean tree leaves no diff.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VERSION=${VERSION:-0.1.0}
CHANNELS=${CHANNELS:-alpha}
DEFAULT_CHANNEL=${DEFAULT_CHANNEL:-alpha}
CSV=bundle/manifests/emqx-operator.clusterserviceversion.yaml
sdk=$(hack/tools.sh path operator-sdk)
kustomize=$(hack/tools.sh path kustomize)

validate() {
  "$sdk" bundle validate ./bundle --select-optional suite=operatorframework
}

if [[ ${1:-} == validate ]]; then
  validate
  exit 0
fi

created=$(grep -m1 'createdAt:' "$CSV" 2>/dev/null | sed 's/.*createdAt: *//' || true)
"$sdk" generate kustomize manifests --interactive=false -q
"$kustomize" build config/manifests |
  "$sdk" generate bundle -q --overwrite --version "$VERSION" --channels="$CHANNELS" --default-channel="$DEFAULT_CHANNEL"
if [[ -n $created ]]; then
  sed -i "s|^\(\s*createdAt:\).*|\1 $created|" "$CSV"
fi
validate
