#!/usr/bin/env bash
# Builds the file-based catalog (catalog/emqx-operator/catalog.yaml, not committed) for the bundle in bundle/ and
# validates it with opm.
#
#   hack/catalog.sh            render + validate (what `make catalog` runs)
#   hack/catalog.sh validate   validate catalog/ as it is
#
# The bundle is rendered from its directory (no registry needed); the entry names the bundle image
# (BUNDLE_IMG) that `make bundle-build` builds from the same directory.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VERSION=${VERSION:-0.1.0}
BUNDLE_IMG=${BUNDLE_IMG:-quay.io/broker-ops/emqx-operator-bundle:v$VERSION}
CHANNEL=${CHANNEL:-alpha}
opm=$(hack/tools.sh path opm)
out=catalog/emqx-operator

if [[ ${1:-} != validate ]]; then
  mkdir -p "$out"
  csv_name=$(sed -n 's/^  name: \(emqx-operator\.v.*\)$/\1/p' bundle/manifests/emqx-operator.clusterserviceversion.yaml | head -1)
  [[ -n $csv_name ]] || { echo "catalog: no CSV name in bundle/manifests" >&2; exit 1; }
  {
    cat <<YAML
---
schema: olm.package
name: emqx-operator
defaultChannel: $CHANNEL
description: Runs EMQX MQTT broker clusters on Kubernetes.
---
schema: olm.channel
package: emqx-operator
name: $CHANNEL
entries:
  - name: $csv_name
YAML
    # opm renders the bundle directory into an olm.bundle blob; it names the bundle by its image.
    "$opm" render ./bundle --output yaml | sed "s|^image: .*|image: $BUNDLE_IMG|"
  } >"$out/catalog.yaml"
fi
"$opm" validate catalog
echo "catalog: catalog/ is valid"
