# The probe's eBPF programs (bpf/): regenerate the Go loaders and objects from
# the C sources. Needs clang-19 (Debian: clang-19 llvm-19); bpf2go is pinned
# as a tool in go.mod. Generated objects are committed, so builds never need
# clang.

.PHONY: generate generate-bpf generate-bpf-check

generate: generate-bpf ## Regenerate generated code (eBPF objects and loaders).

generate-bpf: ## Rebuild bpf/*_bpfel.{go,o} from bpf/*.c with clang-19.
	@command -v clang-19 >/dev/null || { echo "clang-19 not found: apt-get install clang-19 llvm-19"; exit 1; }
	$(GO) generate ./bpf/...

generate-bpf-check: generate-bpf ## Fail when the committed eBPF objects are stale or depend on the checkout's path.
	@git diff --exit-code -- bpf/ || { echo "bpf/ is stale: run make generate-bpf and commit"; exit 1; }
	@tmp=$$(mktemp -d /tmp/netflow-bpf-path-check.XXXXXXXX) && trap 'rm -rf "$$tmp"' EXIT && \
		cp go.mod go.sum "$$tmp"/ && cp -r bpf "$$tmp"/ && \
		(cd "$$tmp" && $(GO) generate ./bpf/...) && \
		for f in bpf/*_bpfel.o bpf/*_bpfel.go; do cmp -s "$$f" "$$tmp/$$f" || { \
			echo "$$f differs when generated under another path: the object is not reproducible"; exit 1; }; done
