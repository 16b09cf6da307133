#!/usr/bin/env bash
# Fails when generated files (CRDs, RBAC, deepcopy) differ from what the generators produce now.
# It regenerates into a scratch copy, so it works on a tree with uncommitted changes too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/go.mod" "$root/go.sum" "$root/api" "$root/controllers" "$root/hack" "$root/internal" "$root/helm-charts" "$scratch/"
mkdir -p "$scratch/config"
cp -r "$root/config/crd" "$root/config/rbac" "$scratch/config/"
cg=$("$root/hack/tools.sh" path controller-gen)
(cd "$scratch" &&
  "$cg" object:headerFile="hack/boilerplate.go.txt" paths="./api/..." &&
  "$cg" crd rbac:roleName=emqx-operator paths="./api/..." paths="./controllers/..." \
    output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac)
status=0
diff -ru "$root/config/crd/bases" "$scratch/config/crd/bases" || status=1
diff -u "$root/config/rbac/role.yaml" "$scratch/config/rbac/role.yaml" || status=1
diff -ru "$root/api" "$scratch/api" || status=1
if [[ $status -ne 0 ]]; then
  echo "generated files are stale: run 'make manifests generate' and commit the result" >&2
fi
exit $status
