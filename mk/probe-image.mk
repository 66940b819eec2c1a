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

image: probe-binaries ## Build the probe image (amd64, arm64) as an OCI layout tarball in bin/, named $(IMAGE).
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image $(PROBE_IMAGE_ARGS) --out $(PROBE_OCI)

image-push: probe-binaries ## Push the probe image to IMAGE=registry/name:tag.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image $(PROBE_IMAGE_ARGS) --push
