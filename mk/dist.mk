# Release archives and the krew manifest (docs/release.md). `make dist` needs a
# release VERSION: it runs at a tag (git tag v0.1.0) or with VERSION=v0.1.0-rc.1.
# DIST_PLATFORMS=linux/amd64 builds a subset of the manifest's platforms.

DIST_DIR ?= dist
DIST_PLATFORMS ?=
# Archive entries carry the time of the commit, so archives are reproducible.
DIST_MTIME ?= $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null))

.PHONY: dist
dist: ## Cross-compile the plugin into dist/ archives and render the krew manifest dist/netflow.yaml.
	$(GO) run ./hack/dist -version '$(VERSION)' -ldflags '$(LDFLAGS)' -out '$(DIST_DIR)' \
		-platforms '$(DIST_PLATFORMS)' -mtime '$(DIST_MTIME)' -go '$(GO)'
