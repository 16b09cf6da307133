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

##@ Try it

.PHONY: demo
demo: ## Local cluster + EMQX simulator + operator, a 5-node EMQX cluster applied and shown Ready.
	@hack/demo.sh up

.PHONY: demo-down
demo-down: ## Stop what make demo started.
	@hack/demo.sh down

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
test: ## The whole suite: static checks, unit, envtest, e2e (each suite's time printed at the end).
	+@hack/test.sh verify test-unit test-rules test-envtest e2e-binaries test-e2e-main test-e2e-chaos test-e2e-install test-e2e-migrate test-e2e-docs check-leftovers

.PHONY: verify
verify: ## go vet, gofmt, and generated files up to date.
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	hack/verify-generated.sh
	hack/verify-project.sh
	hack/verify-shipping.sh

.PHONY: test-unit
test-unit: ## Unit tests and the simulator's conformance tests (no API server).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v -e /controllers -e /test/e2e) ./test/e2e/harness

.PHONY: test-rules
test-rules: ## The alert rules: promtool (Debian's prometheus package) checks them and runs their unit tests.
	cd config/prometheus && "$$(../../hack/tools.sh path promtool)" check rules alerts.rules.yaml && \
		"$$(../../hack/tools.sh path promtool)" test rules alerts.test.yaml

.PHONY: test-envtest
test-envtest: ## Controller tests against a real kube-apiserver + etcd built by hack/.
	KUBEBUILDER_ASSETS="$$($(TOOLS) envtest-assets)" go test $(GO_TEST_FLAGS) ./controllers/...

# e2e runs in a network namespace of its own when it can (root): pod IPs outside 127.0.0.0/8 keep
# Services and EndpointSlices real. Without root it falls back to loopback pod IPs.
E2E_NET_MODE ?= $(shell unshare --net true 2>/dev/null && echo netns || echo loopback)

.PHONY: e2e-binaries
e2e-binaries: ## Build the operator, the simulator, the Job runner and the e2e test binaries, and the tools e2e uses.
	go build -o bin/manager .
	# Static, as the Dockerfile builds it: the e2e Job runner runs it at /manager in a bare root.
	CGO_ENABLED=0 go build -o bin/manager-static .
	go build -o bin/emqx-sim ./test/simulator/cmd/emqx-sim
	go build -o bin/job-runner ./test/jobrunner/cmd/job-runner
	go test -c -o bin/e2e.test ./test/e2e
	go test -c -o bin/e2e-install.test ./test/e2e/install
	go test -c -o bin/e2e-migrate.test ./test/e2e/migrate
	go test -c -o bin/e2e-docs.test ./test/e2e/docs
	go test -c -o bin/e2e-chaos.test ./test/e2e/chaos
	$(TOOLS) build etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl kustomize helm controller-gen prometheus promtool

.PHONY: test-e2e
test-e2e: e2e-binaries ## End-to-end tests on the local kwok cluster with the EMQX simulator.
	@echo "e2e: network mode $(E2E_NET_MODE)"
	$(MAKE) test-e2e-main test-e2e-chaos test-e2e-install test-e2e-migrate test-e2e-docs check-leftovers

.PHONY: test-e2e-main test-e2e-chaos test-e2e-install test-e2e-migrate test-e2e-docs check-leftovers
test-e2e-main: ## e2e: the operator's features (test/e2e).
	E2E_NET_MODE=$(E2E_NET_MODE) hack/run-e2e.sh test/e2e bin/e2e.test 20m
# The chaos run inside `make test`: one fixed seed, four minutes of wall time in all (setup, steps,
# convergence); no shrinking (the failure prints the command that replays and shrinks it). The seed's
# first 40 steps do every step kind, a backup restored among them (test/chaos/steps_test.go).
CHAOS_TEST_SEED ?= 20261673
test-e2e-chaos: ## e2e: the chaos harness on a fixed seed, capped at 4 minutes (test/e2e/chaos).
	CHAOS_SEED=$(CHAOS_TEST_SEED) CHAOS_STEPS=5000 CHAOS_OFFSET=0 CHAOS_ONLY= CHAOS_WALL=4m CHAOS_CONVERGE=80s CHAOS_SHRINK=0 CHAOS_CLUSTERS=3 \
		E2E_NET_MODE=$(E2E_NET_MODE) hack/run-e2e.sh test/e2e/chaos bin/e2e-chaos.test 7m
test-e2e-install: ## e2e: every install path to a Ready cluster (test/e2e/install).
	E2E_NET_MODE=$(E2E_NET_MODE) hack/run-e2e.sh test/e2e/install bin/e2e-install.test 10m
test-e2e-migrate: ## e2e: the switch from the vendor's operator (test/e2e/migrate).
	E2E_NET_MODE=$(E2E_NET_MODE) hack/run-e2e.sh test/e2e/migrate bin/e2e-migrate.test 10m
test-e2e-docs: ## e2e: make demo as a user runs it, and every runnable block of README.md and docs/ (test/e2e/docs).
	E2E_NET_MODE=$(E2E_NET_MODE) hack/run-e2e.sh test/e2e/docs bin/e2e-docs.test 20m
check-leftovers: ## Fail if a test run left a process or listener of the rig behind.
	@hack/check-leftovers.sh

##@ Ship

VERSION ?= 0.1.0
BUNDLE_IMG ?= quay.io/broker-ops/emqx-operator-bundle:v$(VERSION)
CATALOG_IMG ?= quay.io/broker-ops/emqx-operator-catalog:v$(VERSION)
DEPLOY_NAMESPACE ?= emqx-operator-system

.PHONY: bundle
bundle: manifests ## OLM bundle in bundle/ from config/, validated with the operatorframework suite.
	VERSION=$(VERSION) hack/bundle.sh

.PHONY: bundle-validate
bundle-validate: ## Validate bundle/ as it is.
	hack/bundle.sh validate

.PHONY: catalog
catalog: ## File-based catalog in catalog/ (opm render + opm validate).
	BUNDLE_IMG=$(BUNDLE_IMG) hack/catalog.sh

.PHONY: install-yaml
install-yaml: manifests ## dist/install.yaml: CRDs, RBAC and the operator in one file for kubectl apply.
	@mkdir -p dist
	$(call tool,kustomize) build config/default > dist/install.yaml
	@echo "dist/install.yaml written"

##@ Deploy (into the cluster in $KUBECONFIG)

.PHONY: install
install: manifests ## Install the CRDs into the cluster in $$KUBECONFIG (server-side apply: the CRDs are large).
	@$(TOOLS) build kubectl
	$(call tool,kubectl) apply --server-side --force-conflicts -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the cluster in $$KUBECONFIG (this deletes every EMQX resource too).
	@$(TOOLS) build kubectl
	$(call tool,kubectl) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Install CRDs, RBAC and the operator into the cluster in $$KUBECONFIG.
	$(call tool,kustomize) build config/default | $(call tool,kubectl) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove what make deploy installed (EMQX clusters' PVCs stay).
	$(call tool,kustomize) build config/default | $(call tool,kubectl) delete --ignore-not-found -f -

##@ Images and charts

.PHONY: helm-chart
helm-chart: manifests ## Copy the CRD and RBAC rules into the operator's Helm chart, then lint it.
	hack/helm-chart.sh sync
	hack/helm-chart.sh lint

.PHONY: docker-build
docker-build: ## Build the operator image (needs a Docker engine; see hack/verify-dockerfile.sh otherwise).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push:
	docker push $(IMG)

.PHONY: bundle-build
bundle-build: ## Build the bundle image (needs a Docker engine).
	docker build -f bundle.Dockerfile -t $(BUNDLE_IMG) .

##@ Local cluster

.PHONY: cluster-up
cluster-up: ## Start the local kwok cluster (loopback pod IPs); prints its kubeconfig path.
	@hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster.
	@hack/cluster.sh down

.PHONY: kubeconfig
kubeconfig: ## Print the local cluster's kubeconfig path (use: export KUBECONFIG=$$(make -s kubeconfig)).
	@hack/cluster.sh kubeconfig

.PHONY: bench
bench: ## Benchmarks: render (first and cached) and a no-op reconcile.
	KUBEBUILDER_ASSETS="$$($(TOOLS) envtest-assets)" go test -run='^$$' -bench=. -benchmem ./internal/render/... ./controllers/...

# The fleet benchmark (docs/bench-scale.md): fleets of N clusters (3 cores each) brought up bare
# (the operator's rendered objects applied directly) and by the operator, RUNS times each, on a
# local cluster sized for the largest N; the table goes to stdout and to .work/bench-scale/.
N ?= 100,500
RUNS ?= 3
IDLE ?= 180s

.PHONY: bench-scale
bench-scale: e2e-binaries ## Fleet benchmark, bare control plane and operator side by side (N, RUNS, IDLE).
	go test -c -o bin/e2e-benchscale.test ./test/e2e/benchscale
	BENCH_SIZES=$(N) BENCH_RUNS=$(RUNS) BENCH_IDLE=$(IDLE) \
		E2E_NET_MODE=$(E2E_NET_MODE) hack/run-e2e.sh test/e2e/benchscale bin/e2e-benchscale.test 24h

# Fuzz targets, package:Target. `make test` runs their seed corpora (with the unit tests); `make
# fuzz` explores each for FUZZTIME in turn and keeps what it finds under the package's testdata/fuzz.
FUZZ_TARGETS = ./internal/cli:FuzzRenderManifests ./internal/emqxconf:FuzzConfigData \
	./internal/values:FuzzEmqx4Translation ./internal/emqxapi:FuzzOddAnswers
FUZZTIME ?= 60s

# The chaos soak (docs/chaos.md): STEPS steps of SEED from OFFSET, or WALL of wall time, whichever
# ends first; ONLY replays chosen steps; a failure is shrunk with up to SHRINK replays; CONVERGE
# bounds the convergence after the faults stop.
SEED ?= 1
STEPS ?= 5000
OFFSET ?= 0
ONLY ?=
WALL ?= 90m
SHRINK ?= 12
CLUSTERS ?= 3
CONVERGE ?= 150s

.PHONY: chaos
chaos: e2e-binaries ## Chaos soak: seeded user actions and faults under invariants (SEED, STEPS, OFFSET, ONLY, WALL, SHRINK, CONVERGE).
	CHAOS_SEED=$(SEED) CHAOS_STEPS=$(STEPS) CHAOS_OFFSET=$(OFFSET) CHAOS_ONLY=$(ONLY) CHAOS_WALL=$(WALL) CHAOS_CONVERGE=$(CONVERGE) \
		CHAOS_SHRINK=$(SHRINK) CHAOS_CLUSTERS=$(CLUSTERS) \
		E2E_NET_MODE=$(E2E_NET_MODE) hack/run-e2e.sh test/e2e/chaos bin/e2e-chaos.test 24h

.PHONY: fuzz
fuzz: ## Fuzz rendering, config.data parsing, EMQX 4 translation and odd EMQX answers, FUZZTIME each (default 60s).
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		go test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) "$${t%%:*}"; \
	done

##@ Help

.PHONY: help
help: ## This list.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ { gsub(/\$$\$$/, "$$", $$2); printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
