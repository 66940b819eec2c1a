# The probe's streaming protocol (probe/api/v1): regenerate its Go code from
# probe.proto. Needs protoc (Debian: protobuf-compiler); the Go plugins are
# pinned as tools in go.mod. Generated code is committed, so builds never
# need protoc.

.PHONY: generate-api generate-api-check

generate-api: ## Regenerate the probe protocol's Go code from probe/api/v1/probe.proto.
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler"; exit 1; }
	$(GO) generate ./probe/api/...

generate-api-check: generate-api ## Fail when the generated probe protocol code is stale.
	@git diff --exit-code -- probe/api/ || { echo "probe/api is stale: run make generate-api and commit"; exit 1; }
