#!/usr/bin/env bash
# The operator's own Helm chart (helm-charts/emqx-operator).
#
#   hack/helm-chart.sh sync    copy the CRD and the RBAC rules from config/ into the chart
#   hack/helm-chart.sh check   fail when the chart's copies differ from config/
#   hack/helm-chart.sh lint    helm lint and helm template, cluster-wide and namespace-scoped
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CHART=helm-charts/emqx-operator
copies=("config/crd/bases/apps.emqx.io_emqxes.yaml:$CHART/files/crds/apps.emqx.io_emqxes.yaml"
  "config/crd/bases/apps.emqx.io_emqxbackups.yaml:$CHART/files/crds/apps.emqx.io_emqxbackups.yaml"
  "config/crd/bases/apps.emqx.io_emqxbackupschedules.yaml:$CHART/files/crds/apps.emqx.io_emqxbackupschedules.yaml"
  "config/crd/bases/apps.emqx.io_emqxrestores.yaml:$CHART/files/crds/apps.emqx.io_emqxrestores.yaml"
  "config/crd/bases/apps.emqx.io_emqxplugins.yaml:$CHART/files/crds/apps.emqx.io_emqxplugins.yaml"
  "config/crd/bases/apps.emqx.io_emqxenterprises.yaml:$CHART/files/crds/apps.emqx.io_emqxenterprises.yaml"
  "config/crd/bases/apps.emqx.io_emqxbrokers.yaml:$CHART/files/crds/apps.emqx.io_emqxbrokers.yaml"
  "config/rbac/role.yaml:$CHART/files/role.yaml")

case ${1:-} in
  sync)
    for c in "${copies[@]}"; do
      mkdir -p "$(dirname "${c#*:}")"
      cp "${c%%:*}" "${c#*:}"
    done
    ;;
  check)
    for c in "${copies[@]}"; do
      cmp -s "${c%%:*}" "${c#*:}" || { echo "helm chart: ${c#*:} differs from ${c%%:*}: run 'make helm-chart'" >&2; exit 1; }
    done
    ;;
  lint)
    helm=$(hack/tools.sh path helm)
    "$helm" lint --strict "$CHART"
    "$helm" lint --strict "$CHART" --set installCRDs=true --set 'watchNamespaces={team-a,team-b}'
    "$helm" template emqx-operator "$CHART" --namespace emqx-operator-system >/dev/null
    "$helm" template emqx-operator "$CHART" --namespace emqx-operator-system --set installCRDs=true \
      --set 'watchNamespaces={team-a,team-b}' >/dev/null
    ;;
  *)
    echo "usage: $0 sync|check|lint" >&2
    exit 2
    ;;
esac
