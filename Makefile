# trustsync — build, test and local tooling.
#
# Heavy tools (kube-apiserver, etcd, controller-gen, kustomize) are built from the Go module
# proxy into $(CACHE), keyed by version, and reused on later runs.

SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local

CACHE ?= $(HOME)/.cache/trustsync
KUBE_VERSION ?= v1.37.2
ETCD_VERSION ?= v3.6.16
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
GITEA_VERSION ?= v1.26.0
SPIRE_VERSION ?= v1.13.3
HELM_VERSION ?= v4.3.2

ENVTEST_ASSETS := $(CACHE)/envtest
CONTROLLER_GEN := $(CACHE)/tools/controller-gen-$(CONTROLLER_TOOLS_VERSION)/controller-gen
KUSTOMIZE := $(CACHE)/tools/kustomize-$(KUSTOMIZE_VERSION)/kustomize
GITEA := $(CACHE)/tools/gitea-$(GITEA_VERSION)/gitea
SPIRE := $(CACHE)/tools/spire-$(SPIRE_VERSION)
HELM := $(CACHE)/tools/helm-$(HELM_VERSION)/helm

export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)
# internal/giteatest finds Gitea here, so CACHE= and GITEA_VERSION= overrides reach the tests.
export TRUSTSYNC_GITEA := $(GITEA)
# internal/spiretest finds spire-server and spire-agent in this directory.
export TRUSTSYNC_SPIRE := $(SPIRE)
# charts/charttest runs this helm.
export TRUSTSYNC_HELM := $(HELM)

BIN := bin/trustsync
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/trustsync/trustsync/internal/version.Version=$(VERSION)

# FUZZTIME is how long make fuzz runs each fuzz target.
FUZZTIME ?= 10s

# BENCH selects one benchmark by its RESULT id, e.g. make bench BENCH=P3.
BENCH ?=

.PHONY: all build test test-unit race drills fuzz verify lint generate tools envtest controller-gen kustomize gitea spire helm chart modules demo bench clean

all: build

build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/trustsync

test: envtest gitea spire helm
	@echo "==> go test ./... (the first run compiles trustsync and its tests, about 5 min; later runs reuse Go's build cache)"
	go test -count=1 ./...

# The packages whose tests need no API server, Gitea or SPIRE: seconds, not minutes.
UNIT_PKGS = $(shell go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}{{end}}' ./... \
	| grep -v -E 'internal/(testenv|giteatest|spiretest|stack|keycloaktest)( |$$)' | cut -d' ' -f1)

test-unit:
	go test -count=1 $(UNIT_PKGS)

# The packages that run goroutines of their own (the data plane, Git sources and the
# receiver, the bundle server, webhook certificates, the engine), under the race detector.
RACE_PKGS = ./dataplane/... ./sources/... ./security/policy/bundleserver/ ./webhook/certs/ ./engine/... ./internal/app/fleettest/

race: envtest gitea spire
	go test -race -count=1 $(RACE_PKGS)

# Every fault drill (TestDrill…: a real part broken, the final state asserted); RESULT R1.
drills: envtest gitea spire
	hack/drills.sh

# Every fuzz target for FUZZTIME each; a crasher lands in testdata/fuzz/ as a seed.
fuzz:
	hack/fuzz.sh $(FUZZTIME)

# gofmt, vet and the import arrows (internal/archtest).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go test -count=1 ./internal/archtest

# What CI checks before the tests: lint, and generated files that match the API.
verify: lint generate
	@if ! git diff --exit-code -- api config charts || [[ -n "$$(git status --porcelain -- charts)" ]]; then echo "generated files differ from the committed ones: run make generate and commit" >&2; exit 1; fi

generate: controller-gen
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	go run ./hack/families config/crd
	go run ./hack/chart charts/trustsync

tools: modules envtest controller-gen kustomize gitea spire helm

helm:
	@$(STEP) "building helm $(HELM_VERSION)" "about 7 min" $(LOGS)/helm-$(HELM_VERSION).log -- hack/gotool.sh $(CACHE)/tools helm.sh/helm/v4 $(HELM_VERSION) helm.sh/helm/v4/cmd/helm

# The Helm chart as a package: bin/trustsync-<version>.tgz.
chart: helm
	$(HELM) lint charts/trustsync --strict --namespace trustsync-system
	$(HELM) package charts/trustsync -d bin

# Each tool is built once into $(CACHE), quietly: hack/step.sh says what is built and
# roughly how long it takes, and keeps the Go tool's output in $(LOGS).
LOGS := $(CACHE)/logs
STEP := hack/step.sh

modules:
	@$(STEP) "downloading trustsync's Go modules" "about 2 min" $(LOGS)/go-mod-download.log -- go mod download

envtest:
	@$(STEP) "building kube-apiserver $(KUBE_VERSION) and etcd $(ETCD_VERSION) from the Go module proxy" "about 10 min" $(LOGS)/envtest-$(KUBE_VERSION).log -- hack/envtest-assets.sh $(ENVTEST_ASSETS) $(KUBE_VERSION) $(ETCD_VERSION)

controller-gen:
	@$(STEP) "building controller-gen $(CONTROLLER_TOOLS_VERSION)" "about 2 min" $(LOGS)/controller-gen-$(CONTROLLER_TOOLS_VERSION).log -- hack/gotool.sh $(CACHE)/tools sigs.k8s.io/controller-tools $(CONTROLLER_TOOLS_VERSION) sigs.k8s.io/controller-tools/cmd/controller-gen

kustomize:
	@$(STEP) "building kustomize $(KUSTOMIZE_VERSION)" "about 2 min" $(LOGS)/kustomize-$(KUSTOMIZE_VERSION).log -- hack/gotool.sh $(CACHE)/tools sigs.k8s.io/kustomize/kustomize/v5 $(KUSTOMIZE_VERSION) sigs.k8s.io/kustomize/kustomize/v5 kustomize

gitea:
	@$(STEP) "building Gitea $(GITEA_VERSION)" "about 6 min" $(LOGS)/gitea-$(GITEA_VERSION).log -- hack/gitea.sh $(CACHE) $(GITEA_VERSION)

spire:
	@$(STEP) "building spire-server and spire-agent $(SPIRE_VERSION)" "about 4 min" $(LOGS)/spire-$(SPIRE_VERSION).log -- hack/spire.sh $(CACHE) $(SPIRE_VERSION)

# DEMO_FLAGS=--once stops the live part as soon as the Sync is Ready (CI).
DEMO_FLAGS ?=

demo: build envtest gitea
	hack/demo.sh $(BIN) $(DEMO_FLAGS)

bench: tools build
	KUSTOMIZE=$(KUSTOMIZE) hack/bench.sh $(BENCH)

clean:
	rm -rf bin
