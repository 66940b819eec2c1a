# kubectl-netflow build, test and release entry points. `make help` lists them.

SHELL := /bin/bash
GO ?= go
BIN := bin
PKG := github.com/kubectl-netflow/kubectl-netflow
# Local builds are "dev"; a checkout at a release tag builds that release.
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
IMAGE_REPO ?= ghcr.io/kubectl-netflow/netflow-probe
IMAGE ?= $(IMAGE_REPO):$(VERSION)
LDFLAGS := -s -w \
	-X $(PKG)/internal/version.Version=$(VERSION) \
	-X $(PKG)/internal/version.Commit=$(COMMIT) \
	-X $(PKG)/internal/version.ImageRepository=$(IMAGE_REPO)
export CGO_ENABLED ?= 0

.PHONY: all build test unit lint vet fmt tidy-check help
all: build

help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

build: ## Build kubectl-netflow and netflow-probe into bin/.
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-netflow ./cmd/kubectl-netflow
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/netflow-probe ./cmd/netflow-probe

test: unit e2e ## The README's test command: unit and kernel tests, then e2e tests on the lab cluster.

unit: ## Run go vet, unit tests and kernel tests (kernel tests need root) and the tidy check.
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory tidy-check

tidy-check: ## Fail when go.mod/go.sum or generated docs are stale.
	@tmp=$$(mktemp -d /tmp/netflow-tidy.XXXXXXXX) && trap 'rm -rf "$$tmp"' EXIT && \
		cp go.mod go.sum "$$tmp"/ && $(GO) mod tidy && \
		if ! diff -q go.mod "$$tmp"/go.mod >/dev/null || ! diff -q go.sum "$$tmp"/go.sum >/dev/null; then \
			echo "go.mod/go.sum are not tidy: run go mod tidy"; cp "$$tmp"/go.mod "$$tmp"/go.sum .; exit 1; fi

lint: ## Run go vet and golangci-lint (pinned in tools/go.mod).
	$(GO) vet ./...
	$(GO) build -C tools -o $(CURDIR)/$(BIN)/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	$(BIN)/golangci-lint run ./...

fmt: ## Format the Go sources.
	gofmt -w $$(git ls-files '*.go' | grep -v '_bpfel')

-include mk/*.mk
-include lab/lab.mk

.PHONY: docs
docs: ## Regenerate the README's field reference from the field table.
	$(GO) run ./hack/docs

.PHONY: demo
demo: build ## The main job: the lab cluster, demo traffic and kubectl netflow top in the terminal UI.
	@$(MAKE) --no-print-directory lab-demo
	$(BIN)/kubectl-netflow top --kubeconfig $(LAB_KUBECONFIG)
