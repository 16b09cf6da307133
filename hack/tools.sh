#!/usr/bin/env bash
# Builds the project's pinned tool binaries from Go modules into a versioned cache
# outside the checkout, so a clean clone on the same machine reuses them.
#
#   hack/tools.sh build [tool...]   build what is missing (default: every tool)
#   hack/tools.sh path <tool>       print a tool's path (building it if missing)
#   hack/tools.sh envtest-assets    print a directory holding etcd + kube-apiserver
#   hack/tools.sh root              print the cache root
#
# The cache root is $EMQXOP_TOOLS_ROOT, default ~/.cache/emqx-operator/tools. Each tool
# lives in <root>/<tool>/<version>/, so changing one pinned version rebuilds that tool only.
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Pinned versions; a variable already set in the environment wins (to try another version).
while IFS='=' read -r key value; do
  [[ $key =~ ^[A-Z_]+$ ]] || continue
  [[ -n ${!key:-} ]] || export "$key=$value"
done <"$HACK_DIR/tool-versions.env"

TOOLS_ROOT=${EMQXOP_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/emqx-operator/tools}
ALL_TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl
  controller-gen kustomize helm operator-sdk opm prometheus promtool)

# Tools are linked without symbol tables and DWARF: nobody debugs them here, and writing DWARF is
# a large part of linking binaries the size of kube-apiserver (the cold-cache build's budget).
STRIP="-s -w"

log() { echo "tools: $*" >&2; }
die() { echo "tools: error: $*" >&2; exit 1; }

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) echo "$KUBERNETES_VERSION" ;;
    kwok|kwokctl) echo "$KWOK_VERSION" ;;
    controller-gen) echo "$CONTROLLER_GEN_VERSION" ;;
    kustomize) echo "$KUSTOMIZE_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    operator-sdk) echo "$OPERATOR_SDK_VERSION" ;;
    opm) echo "$OPM_VERSION" ;;
    promtool) echo "$PROMETHEUS_DEB_VERSION" ;;
    prometheus) echo "$PROMETHEUS_VERSION" ;;
    *) die "unknown tool '$1' (known: ${ALL_TOOLS[*]})" ;;
  esac
}

tool_path() { echo "$TOOLS_ROOT/$1/$(version_of "$1")/$1"; }

# scratch_module DIR MODULE: an empty module to build tools whose go.mod has replace
# lines (go install refuses those) or whose dependencies need pinning.
scratch_module() {
  rm -rf "$1" && mkdir -p "$1"
  (cd "$1" && go mod init "$2" >/dev/null 2>&1)
}

install_to() { # install_to TOOL BUILT_BINARY
  local dest; dest=$(tool_path "$1")
  mkdir -p "$(dirname "$dest")"
  mv -f "$2" "$dest.tmp" && mv -f "$dest.tmp" "$dest"
}

build_go_install() { # build_go_install TOOL PKG@VERSION [ldflags]
  local tool=$1 pkg=$2 ldflags=${3:-} gobin
  gobin=$(mktemp -d)
  GOBIN=$gobin CGO_ENABLED=0 go install -trimpath -ldflags "$STRIP $ldflags" "$pkg"
  # go install names the binary after the package's last element ("v5" for kustomize/v5).
  install_to "$tool" "$(find "$gobin" -type f | head -1)"
  rm -rf "$gobin"
}

build_etcd() {
  local dir; dir=$(mktemp -d)/etcd
  scratch_module "$dir" local/etcd-build
  cat > "$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1 &&
    CGO_ENABLED=0 go build -trimpath -ldflags "$STRIP" -o etcd .)
  install_to etcd "$dir/etcd"
  rm -rf "$(dirname "$dir")"
}

# The control-plane binaries come from k8s.io/kubernetes, whose go.mod points every
# staging module at ./staging; a scratch module replaces each with its published version.
build_kubernetes() {
  local dir gomod minor ldflags
  dir=$(mktemp -d)/k8s
  scratch_module "$dir" local/k8s-build
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $gomod ]] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  {
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$KUBERNETES_STAGING_VERSION"'#p' "$gomod"
  } >> "$dir/go.mod"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  ldflags="$STRIP"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true)
  mkdir -p "$dir/out"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags tools -ldflags "$ldflags" -o out/ \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  for t in kube-apiserver kube-controller-manager kube-scheduler kubectl; do install_to "$t" "$dir/out/$t"; done
  rm -rf "$(dirname "$dir")"
}

build_operator_sdk() {
  local dir; dir=$(mktemp -d)/osdk
  scratch_module "$dir" local/operator-sdk-build
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/operator-framework/operator-sdk/cmd/operator-sdk"
GO
  (cd "$dir" &&
    go mod edit -require "github.com/operator-framework/operator-sdk@$OPERATOR_SDK_VERSION" \
      -replace "github.com/operator-framework/ansible-operator-plugins=github.com/operator-framework/ansible-operator-plugins@$ANSIBLE_OPERATOR_PLUGINS_VERSION" &&
    sdk_mod=$(go mod download -json "github.com/operator-framework/operator-sdk@$OPERATOR_SDK_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p') &&
    # operator-sdk's own replace lines do not apply to a dependent module: copy them.
    sed -n 's/^replace \(.*\) => \(.*\) \(v[^ ]*\)$/\1=\2@\3/p; /^replace (/,/^)/{s/^[[:space:]]*\([^ ]*\) => \([^ ]*\) \(v[^ ]*\)$/\1=\2@\3/p}' "$sdk_mod" |
      { grep -v ansible-operator-plugins || true; } | while read -r r; do go mod edit -replace "$r"; done
    go mod tidy -e >/dev/null 2>&1 || true
    CGO_ENABLED=0 go build -trimpath -tags containers_image_openpgp \
      -ldflags "$STRIP -X github.com/operator-framework/operator-sdk/internal/version.Version=$OPERATOR_SDK_VERSION -X github.com/operator-framework/operator-sdk/internal/version.GitVersion=$OPERATOR_SDK_VERSION -X github.com/operator-framework/operator-sdk/internal/version.ImageVersion=$OPERATOR_SDK_VERSION -X github.com/operator-framework/operator-sdk/internal/version.KubernetesVersion=$KUBERNETES_VERSION" \
      -o operator-sdk github.com/operator-framework/operator-sdk/cmd/operator-sdk)
  install_to operator-sdk "$dir/operator-sdk"
  rm -rf "$(dirname "$dir")"
}

# opm serves file-based catalogs here (render, validate): its SQLite index format needs cgo and a C
# compile of SQLite, so it is built without cgo (go-sqlite3 then compiles to a stub that only
# the SQLite commands would reach).
build_opm() {
  local dir; dir=$(mktemp -d)/opm
  scratch_module "$dir" local/opm-build
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/operator-framework/operator-registry/cmd/opm"
GO
  (cd "$dir" &&
    go mod edit -require "github.com/operator-framework/operator-registry@$OPM_VERSION" &&
    reg_mod=$(go mod download -json "github.com/operator-framework/operator-registry@$OPM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p') &&
    { sed -n 's/^replace \(.*\) => \(.*\) \(v[^ ]*\)$/\1=\2@\3/p; /^replace (/,/^)/{s/^[[:space:]]*\([^ ]*\) => \([^ ]*\) \(v[^ ]*\)$/\1=\2@\3/p}' "$reg_mod" || true; } |
      while read -r r; do go mod edit -replace "$r"; done
    go mod tidy -e >/dev/null 2>&1 || true
    CGO_ENABLED=0 go build -trimpath -tags containers_image_openpgp \
      -ldflags "$STRIP -X github.com/operator-framework/operator-registry/cmd/opm/version.gitCommit=$OPM_VERSION -X github.com/operator-framework/operator-registry/cmd/opm/version.opmVersion=$OPM_VERSION" \
      -o opm github.com/operator-framework/operator-registry/cmd/opm)
  install_to opm "$dir/opm"
  rm -rf "$(dirname "$dir")"
}

# promtool comes from Debian's prometheus package (the pinned version), unpacked into the cache:
# no root, no dpkg database, nothing installed on the machine.
fetch_debian_promtool() {
  local dir; dir=$(mktemp -d)
  (cd "$dir" && { apt-get download "prometheus=$PROMETHEUS_DEB_VERSION" 2>&1 ||
    { apt-get update -qq 2>&1 && apt-get download "prometheus=$PROMETHEUS_DEB_VERSION" 2>&1; }; })
  dpkg-deb -x "$dir"/prometheus_*.deb "$dir/x"
  install_to promtool "$dir/x/usr/bin/promtool"
  rm -rf "$dir"
}

# The Prometheus server is built from its Go module: Debian's build leaves out Kubernetes service
# discovery (its client libraries are not packaged there), which the e2e suite needs. Only that
# discovery is compiled in (Prometheus's remove_all_sd/enable_kubernetes_sd tags); the web UI's
# assets are not in the module, so the server has its API but no UI.
build_prometheus() {
  local dir; dir=$(mktemp -d)/prometheus
  scratch_module "$dir" local/prometheus-build
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
GO
  (cd "$dir" && go get "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" && go mod tidy -e &&
    CGO_ENABLED=0 go build -trimpath -tags tools,remove_all_sd,enable_kubernetes_sd \
      -ldflags "$STRIP -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" -o prometheus \
      github.com/prometheus/prometheus/cmd/prometheus)
  install_to prometheus "$dir/prometheus"
  rm -rf "$(dirname "$dir")"
}

# The four Kubernetes binaries come from one build: they count as one step and share its log.
build_unit() {
  case "$1" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) echo kubernetes ;;
    *) echo "$1" ;;
  esac
}

run_build() { # run_build TOOL: the build itself, its output on stdout/stderr
  case "$1" in
    etcd) build_etcd ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) build_kubernetes ;;
    kwok) build_go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" ;;
    kwokctl) build_go_install kwokctl "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" ;;
    controller-gen) build_go_install controller-gen "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION" ;;
    kustomize) build_go_install kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" ;;
    helm) build_go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
    operator-sdk) build_operator_sdk ;;
    opm) build_opm ;;
    promtool) fetch_debian_promtool ;;
    prometheus) build_prometheus ;;
  esac
}

# build_one TOOL STEP TOTAL: one line for a person ("[3/9] kube-apiserver v1.37.2 … 341 s"); the go
# command's download and compile chatter goes to a log file, whose last lines are shown on failure.
build_one() {
  local tool=$1 step=$2 total=$3 log
  [[ -x $(tool_path "$tool") ]] && return 0
  mkdir -p "$TOOLS_ROOT/logs"
  log="$TOOLS_ROOT/logs/$(build_unit "$tool")-$(version_of "$tool").log"
  local label="$tool $(version_of "$tool")"
  [[ $(build_unit "$tool") == kubernetes ]] && label="kubernetes $(version_of "$tool") (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)"
  printf 'tools: [%d/%d] %s … ' "$step" "$total" "$label" >&2
  local start=$SECONDS
  # In the foreground, so Ctrl-C stops the build too; errexit is set inside the subshell, outside
  # any `if` (which would turn it off there).
  local rc
  set +e
  (set -e; run_build "$tool") >"$log" 2>&1
  rc=$?
  set -e
  if [[ $rc -ne 0 || ! -x $(tool_path "$tool") ]]; then
    echo "failed after $((SECONDS - start)) s" >&2
    echo "tools: the last lines of $log:" >&2
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    die "building $tool $(version_of "$tool") failed. Check that the Go module proxy answers and that there is disk space (about 10 GB), then run the same command again: what was built stays cached."
  fi
  echo "$((SECONDS - start)) s" >&2
}

with_lock() { # one builder at a time per cache, so parallel make targets do not race
  mkdir -p "$TOOLS_ROOT"
  exec 9>"$TOOLS_ROOT/.lock"
  flock 9
  "$@"
}

build() {
  local tools=("$@") missing=() units=() t u seen
  [[ ${#tools[@]} -gt 0 ]] || tools=("${ALL_TOOLS[@]}")
  for t in "${tools[@]}"; do version_of "$t" >/dev/null; done
  # Count the builds still to do (the four Kubernetes binaries are one), for the [n/N] lines.
  for t in "${tools[@]}"; do
    [[ -x $(tool_path "$t") ]] && continue
    u=$(build_unit "$t") seen=""
    for x in "${units[@]}"; do [[ $x == "$u" ]] && seen=1; done
    [[ -n $seen ]] && continue
    units+=("$u") missing+=("$t")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  log "${#missing[@]} to build (once per version; cached in $TOOLS_ROOT, build logs in $TOOLS_ROOT/logs)"
  local i=0
  for t in "${missing[@]}"; do
    i=$((i + 1))
    with_lock build_one "$t" "$i" "${#missing[@]}"
  done
}

envtest_assets() {
  build etcd kube-apiserver
  local dir="$TOOLS_ROOT/envtest/$KUBERNETES_VERSION-$ETCD_VERSION"
  mkdir -p "$dir"
  ln -sf "$(tool_path etcd)" "$dir/etcd"
  ln -sf "$(tool_path kube-apiserver)" "$dir/kube-apiserver"
  ln -sf "$(tool_path kubectl 2>/dev/null)" "$dir/kubectl" 2>/dev/null || true
  echo "$dir"
}

cmd=${1:-build}; shift || true
case "$cmd" in
  build) build "$@" ;;
  path) [[ $# -eq 1 ]] || die "usage: $0 path <tool>"; build "$1"; tool_path "$1" ;;
  envtest-assets) envtest_assets ;;
  root) echo "$TOOLS_ROOT" ;;
  *) die "unknown command '$cmd' (build | path <tool> | envtest-assets | root)" ;;
esac
