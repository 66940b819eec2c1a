#!/usr/bin/env bash
# Tears the lab down: stops what the lab started, then removes its cgroups,
# network namespaces and state. Safe after a crash and when run twice; caches stay.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ $EUID -eq 0 ]] || die "lab-down needs root"

# stop_tracked NAME...: SIGTERM to every tracked daemon still alive, SIGKILL after 5 s.
stop_tracked() {
	local name pids=() i
	for name in "$@"; do
		if tracked_alive "$name"; then
			kill -TERM "$(tracked_pid "$name")" 2>/dev/null || true
			pids+=("$name")
		fi
	done
	for ((i = 0; i < 50 && ${#pids[@]} > 0; i++)); do
		local left=()
		for name in "${pids[@]}"; do tracked_alive "$name" && left+=("$name"); done
		pids=("${left[@]}")
		((${#pids[@]} == 0)) || sleep 0.1
	done
	for name in "${pids[@]}"; do
		tracked_alive "$name" && kill -KILL "$(tracked_pid "$name")" 2>/dev/null || true
	done
}

# kill_cgroup_tree DIR: SIGKILL every process left in a lab cgroup (containers,
# containerd shims): the lab's daemons started each of them.
kill_cgroup_tree() {
	local dir=$1 i pid any
	[[ -d $dir ]] || return 0
	for ((i = 0; i < 50; i++)); do
		any=0
		while read -r pid; do
			[[ -n $pid ]] || continue
			any=1
			kill -KILL "$pid" 2>/dev/null || true
		done < <(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null)
		((any)) || return 0
		sleep 0.1
	done
	warn "processes still left in $dir"
}

if [[ -d $LAB_STATE/pids ]]; then
	log "stopping the lab's daemons"
	# Everything at once: the cgroup sweep below ends whatever the daemons leave.
	names=()
	for f in "$LAB_STATE"/pids/*; do [[ -e $f ]] && names+=("$(basename "$f")"); done
	((${#names[@]} == 0)) || stop_tracked "${names[@]}"
fi

log "removing cgroups /$CGROUP_ROOT"
kill_cgroup_tree "/sys/fs/cgroup/pids/$CGROUP_ROOT"
for h in $(cgroup_hierarchies); do
	kill_cgroup_tree "$h/$CGROUP_ROOT"
	if [[ -d $h/$CGROUP_ROOT ]]; then
		# Children before parents.
		find "$h/$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ ! -d $h/$CGROUP_ROOT ]] || warn "could not remove $h/$CGROUP_ROOT"
	fi
done

log "removing network namespaces"
for ns in "$NS_CORE" "$NS_INET" "${NODES[@]/#lab-/nflab-}"; do
	if [[ -e /run/netns/$ns ]]; then ip netns del "$ns" || warn "could not delete netns $ns"; fi
done
if [[ -f $LAB_STATE/created-run-netns && -d /run/netns ]] && [[ -z $(ls -A /run/netns) ]]; then
	umount /run/netns 2>/dev/null || true
	rmdir /run/netns 2>/dev/null || true
fi

if [[ -d $LAB_STATE ]]; then
	log "removing $LAB_STATE"
	rm -rf "$LAB_STATE"
fi
log "lab down"
