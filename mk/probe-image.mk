# The probe's container image, built without Docker: a static netflow-probe
# binary per platform, one layer each, in a multi-arch OCI index.
#   make image                      bin/netflow-probe.oci.tar, named $(IMAGE)
#   make image-push IMAGE=reg/name:tag   the same index, pushed with docker login's credentials
# Load it on a node: ctr -n k8s.io images import bin/netflow-probe.oci.tar

PROBE_PLATFORMS ?= linux/amd64 linux/arm64
PROBE_OCI ?= $(BIN)/netflow-probe.oci.tar
# File times and creation time come from the commit, so the same commit
# builds the same image digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
PROBE_IMAGE_ARGS = --image '$(IMAGE)' --version '$(VERSION)' --commit '$(COMMIT)' \
	$(foreach p,$(PROBE_PLATFORMS),--binary $(p)=$(BIN)/$(subst /,_,$(p))/netflow-probe)

.PHONY: image image-push probe-binaries

probe-binaries: ## Build the static netflow-probe binary of each image platform.
	@set -e; for p in $(PROBE_PLATFORMS); do \
		echo "netflow-probe $$p"; \
		CGO_ENABLED=0 GOOS=$${p%%/*} GOARCH=$${p##*/} $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o $(BIN)/$${p%%/*}_$${p##*/}/netflow-probe ./cmd/netflow-probe; \
	done

image: $(PROBE_OCI) ## Build the probe image (amd64, arm64) as an OCI layout tarball in bin/, named $(IMAGE).

# The tarball is rebuilt only when what goes into it changed: the sources of
# the probe's packages (a superset, to stay cheap to list), the module files,
# or the build settings, which the stamp records.
PROBE_INPUTS := $(shell find cmd/netflow-probe probe bpf flow internal hack/image \( -name '*.go' -o -name '*.o' \) -not -name '*_test.go' 2>/dev/null) go.mod go.sum
PROBE_STAMP := $(BIN)/.netflow-probe-image
PROBE_SETTINGS = $(PROBE_IMAGE_ARGS) $(PROBE_PLATFORMS) $(LDFLAGS) $(SOURCE_DATE_EPOCH) $(shell $(GO) env GOVERSION)

$(PROBE_OCI): $(PROBE_INPUTS) $(PROBE_STAMP)
	@$(MAKE) --no-print-directory probe-binaries
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image $(PROBE_IMAGE_ARGS) --out $@

# Rewritten only when the settings differ, so its time says when they last changed.
$(PROBE_STAMP): FORCE
	@mkdir -p $(@D); echo '$(PROBE_SETTINGS)' | cmp -s - $@ 2>/dev/null || echo '$(PROBE_SETTINGS)' > $@

.PHONY: FORCE
FORCE:

image-push: probe-binaries ## Push the probe image to IMAGE=registry/name:tag.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image $(PROBE_IMAGE_ARGS) --push
