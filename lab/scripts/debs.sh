#!/usr/bin/env bash
# Downloads the Debian packages the lab runs (etcd, containerd, runc, CNI plugins,
# iptables, busybox) and unpacks them into the cache without installing anything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PACKAGES=(
	etcd-server containerd runc containernetworking-plugins busybox-static
	iptables libip4tc2 libip6tc2 libxtables12 libnftnl11 libmnl0
	libnetfilter-conntrack3 libnfnetlink0 conntrack
)
root="$LAB_CACHE/debs/root"
key=$(printf '%s\n' "${PACKAGES[@]}" | cat - "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
stamp="$LAB_CACHE/debs/.stamp-$key"
if [[ -f $stamp ]]; then
	exit 0
fi
log "downloading Debian packages: ${PACKAGES[*]}"
dl="$LAB_CACHE/debs/download"
mkdir -p "$dl"
if ! (cd "$dl" && apt-get download "${PACKAGES[@]}" >/dev/null 2>"$dl/apt.err"); then
	log "apt-get download failed; refreshing the package lists once"
	apt-get update >/dev/null
	(cd "$dl" && apt-get download "${PACKAGES[@]}" >/dev/null)
fi
rm -rf "$root"
mkdir -p "$root"
for p in "${PACKAGES[@]}"; do
	deb=$(ls -t "$dl/${p}_"*.deb | head -1)
	dpkg-deb -x "$deb" "$root"
done
rm -f "$LAB_CACHE"/debs/.stamp-*
touch "$stamp"
log "unpacked into $root"
