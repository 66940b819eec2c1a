# The probe's eBPF programs (bpf/): regenerate the Go loaders and objects from
# the C sources. Needs clang-19 (Debian: clang-19 llvm-19); bpf2go is pinned
# as a tool in go.mod. Generated objects are committed, so builds never need
# clang.

.PHONY: generate generate-bpf generate-bpf-check

generate: generate-bpf ## Regenerate generated code (eBPF objects and loaders).

generate-bpf: ## Rebuild bpf/*_bpfel.{go,o} from bpf/*.c with clang-19.
	@command -v clang-19 >/dev/null || { echo "clang-19 not found: apt-get install clang-19 llvm-19"; exit 1; }
	$(GO) generate ./bpf/...

generate-bpf-check: generate-bpf ## Fail when the committed eBPF objects are stale.
	@git diff --exit-code -- bpf/ || { echo "bpf/ is stale: run make generate-bpf and commit"; exit 1; }
