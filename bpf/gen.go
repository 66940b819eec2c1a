// Package bpf holds the probe's eBPF programs and the only Go code that
// touches their kernel objects: it loads them, attaches them and reads their
// maps for probe/collector.
package bpf

// The object is generated for little-endian targets only (amd64, arm64) and
// relocated against the running kernel's BTF (CO-RE). clang is pinned by name
// so regenerating on another machine gives the same bytes.
//go:generate go tool bpf2go -cc clang-19 -target bpfel -go-package bpf -type flow_key -type flow_val -type dns_event -type owner -type flow_rec -type drain_args -type slot -type slot_state -type seen_sock netflow netflow.c -- -I. -mcpu=v3 -Wall -Werror
