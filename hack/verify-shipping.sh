#!/usr/bin/env bash
# Checks what users install, without a Docker engine or a registry:
# - the OLM bundle regenerates from config/ without a diff and passes operator-sdk's validation
#   with the operatorframework suite; a file-based catalog of it renders and passes opm validate
#   (the catalog is built, not committed: it embeds the whole bundle);
# (RBAC rules of every path are checked for wildcards by test/e2e/install, which parses them.)
# - the operator's Helm chart matches config/ (its resources too) and passes helm lint and template;
# - the Dockerfile copies only paths that exist, and its own build command, run on just those
#   paths, builds a binary that renders a cluster with nothing beside it (the chart is embedded);
# - config/default builds into a single install.yaml.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "verify-shipping: $*" >&2; exit 1; }
run_quiet() { # run_quiet LOG CMD...: show the output only when the command fails
  local log=$1; shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
}

echo "verify-shipping: bundle"
tree="$scratch/tree"
mkdir -p "$tree"
cp -r PROJECT go.mod go.sum main.go embed.go watches.yaml api controllers internal helm-charts hack config \
  bundle bundle.Dockerfile "$tree/"
run_quiet "$scratch/bundle.log" bash -c "cd '$tree' && hack/bundle.sh" || fail "make bundle failed"
grep -q "All validation tests have completed successfully" "$scratch/bundle.log" || fail "bundle validation did not pass"
diff -ru bundle "$tree/bundle" && diff -u bundle.Dockerfile "$tree/bundle.Dockerfile" &&
  diff -ru config/manifests "$tree/config/manifests" || fail "bundle/ is stale: run 'make bundle' and commit the result"

echo "verify-shipping: catalog"
run_quiet "$scratch/catalog.log" bash -c "cd '$tree' && hack/catalog.sh" || fail "make catalog failed"
grep -q "schema: olm.bundle" "$tree/catalog/emqx-operator/catalog.yaml" || fail "the catalog has no bundle"

echo "verify-shipping: Helm chart"
hack/helm-chart.sh check
# The operator's resources are set from measurement (the e2e suites check their peak memory
# against config/manager's request): the chart's defaults must be the same numbers.
resources_of() { sed -n 's/^ *\(requests\|limits\): *\({.*}\)$/\1 \2/p' "$1"; }
[[ -n $(resources_of config/manager/manager.yaml) ]] || fail "config/manager/manager.yaml: no resources found"
diff <(resources_of config/manager/manager.yaml) <(resources_of helm-charts/emqx-operator/values.yaml) ||
  fail "the Helm chart's resources differ from config/manager/manager.yaml"
run_quiet "$scratch/helm.log" hack/helm-chart.sh lint || fail "helm lint failed"
helm=$(hack/tools.sh path helm)
"$helm" template emqx-operator helm-charts/emqx-operator --set installCRDs=true >"$scratch/helm-all.yaml"
"$helm" template emqx-operator helm-charts/emqx-operator --set 'watchNamespaces={a,b}' >"$scratch/helm-ns.yaml"
grep -q "kind: CustomResourceDefinition" "$scratch/helm-all.yaml" || fail "installCRDs=true renders no CRD"
# Every CRD the operator serves ships in the chart: a missing one stops the manager at start.
for crd in config/crd/bases/*.yaml; do
  name=$(sed -n 's/^  name: //p' "$crd" | head -1)
  grep -q "^  name: $name\$" "$scratch/helm-all.yaml" || fail "the chart (installCRDs=true) lacks the CRD $name of $crd (hack/helm-chart.sh)"
done
! grep -q "kind: CustomResourceDefinition" "$scratch/helm-ns.yaml" || fail "installCRDs=false renders a CRD"
grep -q "kind: ClusterRoleBinding" "$scratch/helm-all.yaml" || fail "cluster-wide install has no ClusterRoleBinding"
[[ $(grep -c "kind: RoleBinding" "$scratch/helm-ns.yaml") -ge 2 ]] || fail "namespace-scoped install lacks a RoleBinding per namespace"

echo "verify-shipping: install.yaml"
kustomize=$(hack/tools.sh path kustomize)
"$kustomize" build config/default >"$scratch/install.yaml"
grep -q "kind: Deployment" "$scratch/install.yaml" && grep -q "kind: CustomResourceDefinition" "$scratch/install.yaml" ||
  fail "config/default does not build into an install.yaml with the CRD and the operator"

echo "verify-shipping: Dockerfile"
ctx="$scratch/docker"
mkdir -p "$ctx"
while read -r src dst; do
  [[ -e $src ]] || fail "the Dockerfile copies $src, which does not exist"
  mkdir -p "$(dirname "$ctx/$dst")"
  cp -r "$src" "$ctx/$dst"
done < <(awk '/^FROM/{stage++} stage==1 && $1=="COPY" && $2 !~ /^--from/ {for (i=2; i<NF; i++) print $i, $NF}' Dockerfile)
build=$(sed -n 's/^RUN \(.*go build.*\)$/\1/p' Dockerfile)
[[ -n $build ]] || fail "no go build command in the Dockerfile"
run_quiet "$scratch/docker.log" bash -c "cd '$ctx' && TARGETOS=linux TARGETARCH=amd64 && eval \"\$0\"" "$build" ||
  fail "the Dockerfile's build command failed"
empty="$scratch/empty"
mkdir -p "$empty"
cp config/samples/apps_v2beta1_emqx.yaml "$scratch/sample.yaml"
(cd "$empty" && "$ctx/manager" render -f "$scratch/sample.yaml" | grep -q "kind: StatefulSet") ||
  fail "the image's binary cannot render from its embedded chart"
grep -q "^USER 65532" Dockerfile || fail "the image does not run as a non-root user"
echo "verify-shipping: ok"
