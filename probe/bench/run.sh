#!/usr/bin/env bash
# Measures the probe's cost on this machine and prints the figures issue 3
# asks for:
#   - TCP throughput with the probe attached / without (iperf3 on loopback,
#     1 KiB and 128 KiB writes, interleaved runs, kernel.bpf_stats_enabled
#     off as on a node: the statistics add two clock reads to every run of
#     every program), with the median of the rounds' ratios and its 95 %
#     bootstrap interval, which shows how much the machine alone moves it.
#     A run without the probe goes through the same steps as one with it:
#     the holder starts (attaching nothing), the machine settles for
#     SETTLE seconds, iperf3 runs, the holder stops. AA=1 compares runs
#     without the probe with each other, which shows the method's own bias,
#     and HOLDER_ARGS passes flags to the probe (-receive-hook=always),
#   - cost per event of each program (separate runs with
#     kernel.bpf_stats_enabled on; the setting is restored after),
#   - the time to read 50,000 flows (go test -bench Collect50k, and its
#     parts Drain50k and Records50k),
#   - the probe's peak RSS and its CPU use while idle.
# Needs root, iperf3 and python3. ROUNDS, SECONDS_PER_RUN and SETTLE tune the
# length, SIZES the write sizes (default "1K 128K").
set -euo pipefail

ROUNDS=${ROUNDS:-16}
SECS=${SECONDS_PER_RUN:-3}
SETTLE=${SETTLE:-2}
AA=${AA:-0}
SIZES=${SIZES:-1K 128K}
PORT=${PORT:-5299}
cd "$(dirname "$0")/../.."

[ "$(id -u)" = 0 ] || { echo "run as root: the probe loads eBPF programs" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "iperf3 not found: apt-get install iperf3" >&2; exit 1; }

tmp=$(mktemp -d)
prev_stats=$(sysctl -n kernel.bpf_stats_enabled)
iperf_pid=""
holder_pid=""
cleanup() {
	[ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null && wait "$holder_pid" 2>/dev/null || true
	[ -n "$iperf_pid" ] && kill "$iperf_pid" 2>/dev/null || true
	sysctl -qw kernel.bpf_stats_enabled="$prev_stats"
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/holder" ./probe/bench/holder
iperf3 -s -B 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
iperf_pid=$!
sleep 0.5

# start_holder [-attach=false] starts the holder and waits until it has
# attached (or, without the probe, started).
start_holder() {
	"$tmp/holder" "$@" >"$tmp/holder.out" 2>"$tmp/holder.err" &
	holder_pid=$!
	for _ in $(seq 50); do grep -q hookset "$tmp/holder.out" 2>/dev/null && return; sleep 0.1; done
	echo "the probe did not start:" >&2; cat "$tmp/holder.err" >&2; exit 1
}
stop_holder() {
	kill -TERM "$holder_pid"; wait "$holder_pid" || true; holder_pid=""
}

# iperf3 prints JSON; take the receiver's bits per second.
throughput() {
	iperf3 -c 127.0.0.1 -p "$PORT" -t "$SECS" -l "$1" -J |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])'
}

# Sum run_time_ns and run_cnt of the probe's programs, by name.
prog_stats() {
	bpftool -j prog show | python3 -c '
import json, sys
names = {f"{kind}_{way}_{m}": "packet" for kind in ("skb", "pid") for way in ("egress", "ingress") for m in "ab"}
names |= {"tp_btf_send": "socket", "tp_btf_recv": "socket",
         "tp_send": "socket", "tp_recv": "socket", "fentry_send": "socket", "fentry_recv": "socket",
         "sock_create": "sock_create", "sock_ops": "sockops"}
acc = {}
for p in json.load(sys.stdin):
    layer = names.get(p.get("name"))
    if layer:
        t, n = acc.get(layer, (0, 0))
        acc[layer] = (t + p.get("run_time_ns", 0), n + p.get("run_cnt", 0))
for layer, (t, n) in sorted(acc.items()):
    print(layer, t, n)'
}

# measure SIZE [-attach=false] sets bps to one throughput run's figure, with
# the steps around it that a run with the probe needs. (Not in a subshell:
# the exit trap must know the holder.)
measure() {
	local size=$1; shift
	start_holder "$@"
	sleep "$SETTLE"
	bps=$(throughput "$size")
	stop_holder
	sleep 1 # the kernel frees the probe's maps in the background
}

read -ra probe_args <<<"${HOLDER_ARGS:-}"
with=("${probe_args[@]}")
[ "$AA" = 1 ] && with=(-attach=false) && echo "AA=1: both runs of each round are without the probe"
sysctl -qw kernel.bpf_stats_enabled=0
for size in $SIZES; do
	off=(); on=()
	for r in $(seq "$ROUNDS"); do
		# Alternate which run comes first, so a drift of the machine's
		# speed during a round does not favour either.
		if (( r % 2 )); then measure "$size" -attach=false; off+=("$bps"); fi
		measure "$size" "${with[@]}"; on+=("$bps")
		if (( r % 2 == 0 )); then measure "$size" -attach=false; off+=("$bps"); fi
	done
	python3 - "$size" "${off[*]}" "${on[*]}" <<'PY'
import random, statistics, sys
size, off, on = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
mo, mn = statistics.median(off), statistics.median(on)
print(f"throughput loopback {size:>4} writes: without {mo/1e9:6.2f} Gbit/s, with {mn/1e9:6.2f} Gbit/s, ratio {mn/mo:.3f} (medians of {len(off)} interleaved runs; per round: {' '.join(f'{b/a:.2f}' for a, b in zip(off, on))})")
# How far the machine alone moves that figure: the median of the rounds'
# ratios, with a 95 % bootstrap interval over the rounds.
ratios = [b / a for a, b in zip(off, on)]
rng = random.Random(1)
boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
print(f"  per-round ratio: median {statistics.median(ratios):.3f}, 95 % bootstrap interval {boot[50]:.3f}-{boot[1949]:.3f} (target: at least 0.97)")
PY
done

# Cost per event: the same transfers, with the statistics on.
declare -A stat_t stat_n
for size in $SIZES; do
	for _ in $(seq "$(( (ROUNDS + 3) / 4 ))"); do
		start_holder "${probe_args[@]}"
		sysctl -qw kernel.bpf_stats_enabled=1
		throughput "$size" >/dev/null
		while read -r layer t n; do
			stat_t[$layer]=$(( ${stat_t[$layer]:-0} + t )); stat_n[$layer]=$(( ${stat_n[$layer]:-0} + n ))
		done < <(prog_stats)
		sysctl -qw kernel.bpf_stats_enabled=0
		stop_holder
		sleep 1
	done
done
sysctl -qw kernel.bpf_stats_enabled="$prev_stats"
hookset=$(awk '/hookset/ {print $2}' "$tmp/holder.out")
echo "hook set: $hookset"
for layer in packet socket sock_create sockops; do
	n=${stat_n[$layer]:-0}
	if [ "$n" -gt 0 ]; then
		echo "cost per event, $layer layer: $(( ${stat_t[$layer]} / n )) ns ($n events)"
	fi
done

# Idle: attach, wait, measure CPU time and RSS.
start_holder "${probe_args[@]}"
sleep 1
t0=$(awk '{print $14+$15}' /proc/$holder_pid/stat)
sleep 10
t1=$(awk '{print $14+$15}' /proc/$holder_pid/stat)
hz=$(getconf CLK_TCK)
stop_holder
python3 -c "print(f'idle CPU: {100*($t1-$t0)/$hz/10:.2f} % of a core')"
echo "peak RSS: $(awk '/rss_peak_kib/ {print $2}' "$tmp/holder.out") KiB"

collect=$(go test -count=1 -run '^$' -bench Collect50k -benchtime 20x ./probe/collector/ | awk '/Collect50k/ {print $5}')
kernel=$(go test -count=1 -run '^$' -bench 'Drain50k/program' -benchtime 20x ./bpf/ | awk '/Drain50k/ {print $5}')
user=$(go test -count=1 -run '^$' -bench Records50k -benchtime 20x ./probe/collector/ | awk '/Records50k/ {print $5}')
echo "reading 50,000 flows: $collect ms per interval (the attached probe's Collect; alone, the map switch and kernel drain take $kernel ms and the records $user ms, and Collect overlaps them)"
