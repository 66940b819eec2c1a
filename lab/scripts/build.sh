#!/usr/bin/env bash
# Builds the Kubernetes components and CoreDNS the lab runs into the cache, once.
# A stamp keyed on the pinning go.sum files makes a warm call a no-op.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

K8S_VERSION=v1.34.4
build_k8s() {
	local out="$LAB_CACHE/k8s-$K8S_VERSION" stamp key
	key=$(cat "$LAB_SRC/build/go.mod" "$LAB_SRC/build/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
	stamp="$out/.stamp-$key"
	if [[ -f $stamp ]]; then
		return 0
	fi
	local pkgs=(kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy)
	# kubectl is only built where the machine has none.
	if ! command -v kubectl >/dev/null; then pkgs+=(kubectl); fi
	log "building Kubernetes $K8S_VERSION (${pkgs[*]}); a cold build takes ~5 min on 2 cores"
	mkdir -p "$out"
	local args=()
	for p in "${pkgs[@]}"; do args+=("k8s.io/kubernetes/cmd/$p"); done
	# The lab's own helpers share the invocation: nsforward and the pause image.
	args+=(./nsforward ./pause)
	(cd "$LAB_SRC/build" && CGO_ENABLED=0 GOCACHE="$LAB_CACHE/go-build" GOFLAGS=-mod=mod \
		go build -trimpath -o "$out/" \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 -X k8s.io/component-base/version.gitTreeState=clean" \
		"${args[@]}")
	rm -f "$out"/.stamp-*
	touch "$stamp"
}

build_coredns() {
	local out="$LAB_CACHE/coredns" stamp key
	key=$(cat "$LAB_SRC/coredns/go.mod" "$LAB_SRC/coredns/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
	stamp="$out/.stamp-$key"
	if [[ -f $stamp ]]; then
		return 0
	fi
	log "building CoreDNS"
	mkdir -p "$out"
	(cd "$LAB_SRC/coredns" && CGO_ENABLED=0 GOCACHE="$LAB_CACHE/go-build" GOFLAGS=-mod=mod \
		go build -trimpath -ldflags "-s -w" -o "$out/coredns" .)
	rm -f "$out"/.stamp-*
	touch "$stamp"
}

case "${1:-all}" in
k8s) build_k8s ;;
coredns) build_coredns ;;
all) build_k8s; build_coredns ;;
*) die "usage: build.sh [k8s|coredns|all]" ;;
esac
