# Shared settings and helpers of the lab scripts; sourced, never run.
# shellcheck shell=bash

LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_REPO=$(cd "$LAB_SRC/.." && pwd)
# State of the running lab: pids, certificates, node folders. lab-down removes it.
LAB_STATE=${NETFLOW_LAB_STATE:-/var/lib/netflow-lab}
# Everything built or downloaded; survives lab-down and is shared by every clone.
LAB_CACHE=${NETFLOW_LAB_CACHE:-/var/cache/netflow-lab}
export KUBECACHEDIR=$LAB_STATE/kube-cache

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[lab %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

K8S_VERSION=v1.34.4
DEBS=$LAB_CACHE/debs/root
K8S_BIN=$LAB_CACHE/k8s-$K8S_VERSION
NODES=(lab-a lab-b)
# Addresses of the lab network. The node network is a bridge in the core
# namespace; the "internet" is a documentation range behind the core router.
CORE_IP=172.30.0.1
INET_IP=203.0.113.10
INET_GW=203.0.113.1
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_CIDR=10.244.0.0/16
API_PORT=${NETFLOW_LAB_API_PORT:-16443}
NS_CORE=nflab-core
NS_INET=nflab-inet
CGROUP_ROOT=netflow-lab
KUBECONFIG_ADMIN=$LAB_STATE/kubeconfig

node_index() { case $1 in lab-a) echo 1 ;; lab-b) echo 2 ;; *) die "unknown node $1" ;; esac; }
node_ip() { echo "172.30.0.1$(node_index "$1")"; }
node_pod_cidr() { echo "10.244.$(node_index "$1").0/24"; }
node_gw() { echo "10.244.$(node_index "$1").1"; }
node_zone() { case $1 in lab-a) echo zone-a ;; lab-b) echo zone-b ;; esac; }
node_netns() { echo "nflab-${1#lab-}"; }

# The kubectl of the machine, or the one the lab built where there is none.
lab_kubectl() {
	local k=kubectl
	if ! command -v kubectl >/dev/null; then k=$K8S_BIN/kubectl; fi
	"$k" --kubeconfig "$KUBECONFIG_ADMIN" "$@"
}

# v1 cgroup hierarchies; the lab's cgroups live in a netflow-lab folder of each.
cgroup_hierarchies() {
	local d
	for d in /sys/fs/cgroup/*/; do
		d=${d%/}
		[[ -f $d/cgroup.procs && $d != /sys/fs/cgroup/unified ]] && echo "$d"
	done
}

# Process tracking (see lab/README.md): a pid counts as the lab's only while its
# start time matches the one recorded when the lab started it, and it is no zombie.
proc_starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
proc_state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }
tracked_alive() {
	local f=$LAB_STATE/pids/$1 pid st
	[[ -f $f ]] || return 1
	read -r pid st <"$f"
	[[ -n $pid && $(proc_starttime "$pid") == "$st" && $(proc_state "$pid") != Z ]]
}
tracked_pid() { cut -d' ' -f1 "$LAB_STATE/pids/$1"; }

# start_daemon NAME CMD... runs CMD in the background, logging to logs/NAME.log,
# and records its pid with its start time. Every daemon joins the lab's pids
# cgroup, so lab-down also finds what it started in turn (containerd shims).
start_daemon() {
	local name=$1
	shift
	mkdir -p "$LAB_STATE/pids" "$LAB_STATE/logs"
	# shellcheck disable=SC2016
	setsid bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "/sys/fs/cgroup/pids/$CGROUP_ROOT/daemons" "$@" \
		</dev/null >>"$LAB_STATE/logs/$name.log" 2>&1 &
	local pid=$!
	echo "$pid $(proc_starttime "$pid")" >"$LAB_STATE/pids/$name"
}

# wait_for WHAT SECONDS CMD... polls CMD every 0.2 s.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	die "timed out after ${secs}s waiting for $what (logs: $LAB_STATE/logs)"
}
