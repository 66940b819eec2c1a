#!/usr/bin/env bash
# Builds the Kubernetes components, the lab's helpers and CoreDNS into the cache,
# once. Stamps keyed on what pins each build make a warm call a no-op.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

GOENV=(env CGO_ENABLED=0 GOCACHE="$LAB_CACHE/go-build" GOFLAGS=-mod=mod)

# stamp_of NAME FILE... names the stamp of build NAME from the files that pin it.
stamp_of() { echo "$LAB_CACHE/stamps/$1-$(cat "${@:2}" | sha256sum | cut -c1-16)"; }

build_k8s() {
	local pkgs=(kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy)
	# kubectl is only built where the machine has none.
	if ! command -v kubectl >/dev/null; then pkgs+=(kubectl); fi
	local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 -X k8s.io/component-base/version.gitTreeState=clean"
	local stamp
	stamp=$(stamp_of k8s "$LAB_SRC/build/go.sum" <(echo "${pkgs[*]} $ldflags"))
	[[ -f $stamp ]] && return 0
	log "building Kubernetes $K8S_VERSION (${pkgs[*]}); a cold build takes ~5 min on 2 idle cores"
	mkdir -p "$K8S_BIN" "$LAB_CACHE/stamps"
	local args=() p
	for p in "${pkgs[@]}"; do args+=("k8s.io/kubernetes/cmd/$p"); done
	# One invocation, so the components share compiled packages.
	(cd "$LAB_SRC/build" && "${GOENV[@]}" go build -trimpath -ldflags "$ldflags" -o "$K8S_BIN/" "${args[@]}")
	rm -f "$LAB_CACHE"/stamps/k8s-*
	touch "$stamp"
}

build_helpers() {
	local stamp
	stamp=$(stamp_of helpers "$LAB_SRC/build/go.mod" "$LAB_SRC/build/go.sum" "$LAB_SRC"/build/nsforward/*.go "$LAB_SRC"/build/pause/*.go)
	[[ -f $stamp ]] && return 0
	log "building the lab helpers (nsforward, pause)"
	mkdir -p "$K8S_BIN" "$LAB_CACHE/stamps"
	(cd "$LAB_SRC/build" && "${GOENV[@]}" go build -trimpath -ldflags "-s -w" -o "$K8S_BIN/" ./nsforward ./pause)
	rm -f "$LAB_CACHE"/stamps/helpers-*
	touch "$stamp"
}

build_coredns() {
	local stamp
	stamp=$(stamp_of coredns "$LAB_SRC/coredns/go.mod" "$LAB_SRC/coredns/go.sum" "$LAB_SRC"/coredns/*.go)
	[[ -f $stamp ]] && return 0
	log "building CoreDNS"
	mkdir -p "$LAB_CACHE/coredns" "$LAB_CACHE/stamps"
	(cd "$LAB_SRC/coredns" && "${GOENV[@]}" go build -trimpath -ldflags "-s -w" -o "$LAB_CACHE/coredns/coredns" .)
	rm -f "$LAB_CACHE"/stamps/coredns-*
	touch "$stamp"
}

case "${1:-all}" in
k8s) build_k8s ;;
helpers) build_helpers ;;
coredns) build_coredns ;;
all) build_k8s; build_helpers; build_coredns ;;
*) die "usage: build.sh [k8s|helpers|coredns|all]" ;;
esac
