#!/usr/bin/env bash
# Runs as the first process of a lab node: inside the node's network namespace
# and a fresh private mount namespace, it gives the node its own /run and /var and
# shields the machine's global sysctls, then holds the namespace open. containerd,
# the kubelet and kube-proxy join this mount namespace with nsenter.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
node_dir=$1
root=$node_dir/root

mkdir -p "$root/run" "$root/var/lib" "$root/var/log" "$root/var/cache" "$root/var/tmp" "$node_dir/sysctl"
ln -sfn /run "$root/var/run"
ln -sfn /run/lock "$root/var/lock"
# The lab's own folders must stay visible under the node's /var.
for keep in "$LAB_STATE" "$LAB_CACHE"; do
	if [[ $keep == /var/* ]]; then
		mkdir -p "$root$keep"
		mount --bind "$keep" "$root$keep"
	fi
done
# A sysfs mounted in the node's network namespace shows the node's interfaces; the
# machine's mounts below /sys (cgroups, bpffs, tracefs) are carried over.
mkdir -p "$node_dir/sys"
mount -t sysfs sysfs "$node_dir/sys"
while read -r m; do
	[[ -d $node_dir/sys${m#/sys} ]] && mount --rbind "$m" "$node_dir/sys${m#/sys}"
done < <(awk '$5 ~ /^\/sys\/[^\/]+\/[^\/]+$/ {print $5}' /proc/self/mountinfo | sort -u)
mount --move "$node_dir/sys" /sys
mount --rbind "$root/var" /var
mount --bind "$root/run" /run
# Hard-coded paths of containerd, runc, CNI and the kubelet now land in the node's folder.
mkdir -p /run/netns /var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni

# The kubelet rewrites these kernel-wide sysctls; regular files stand in for them.
for s in kernel/panic kernel/panic_on_oops vm/overcommit_memory vm/panic_on_oom \
	kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
	f=$node_dir/sysctl/${s//\//.}
	cat "/proc/sys/$s" >"$f"
	mount --bind "$f" "/proc/sys/$s"
done

touch "$node_dir/ns-ready"
exec sleep infinity
