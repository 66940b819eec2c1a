// Package collector is the node probe's flow source: it loads the eBPF
// programs of package bpf, drains their per-interval flow counters and turns
// them into flow records attributed to processes and containers, with DNS
// names and Service translations where the node saw them.
package collector

import (
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// Config configures a Collector. The zero value is usable.
type Config struct {
	// MaxFlows bounds the kernel flow map: the flows one interval can hold.
	// Updates beyond it are counted in probe.Stats.LostFlows. Default 65536.
	MaxFlows int
	// SkipHookSets names socket-layer hook sets not to try ("tp_btf",
	// "tracepoint", "fentry"), for tests and for kernels where one
	// misbehaves.
	SkipHookSets []string
	// NoNetnsCookie makes the packet layer key flows by their owner's pid,
	// as on kernels without bpf_get_netns_cookie in cgroup_skb (for tests).
	NoNetnsCookie bool
	// NoSlots makes the packet layer count established TCP sockets in the
	// flow maps too, as on kernels that cannot give them slots (for tests).
	NoSlots bool
	// NoSeenSockets makes the socket layer look up a socket's owner on
	// every send and receive, as on kernels whose tracing programs cannot
	// read socket cookies (for tests).
	NoSeenSockets bool
	// ReceiveHook says when the socket layer's receive hook runs. Empty
	// means probe.ReceiveHookSampled.
	ReceiveHook probe.ReceiveHook
	// ReceiveSamplePeriod and ReceiveSampleWindow shape the sampled
	// receive hook: attached for a window of every period, at a random
	// place in it. Defaults 1 s and 100 ms.
	ReceiveSamplePeriod, ReceiveSampleWindow time.Duration
	// CgroupRoot is the cgroup2 mount. Empty means autodetect:
	// /sys/fs/cgroup if it is cgroup2, else /sys/fs/cgroup/unified.
	CgroupRoot string
	// CgroupV1CPURoot is the cgroup v1 cpu hierarchy, used on hybrid hosts
	// where containers live only in v1 hierarchies. Empty means autodetect
	// (/sys/fs/cgroup/cpu when it is a v1 cpu hierarchy).
	CgroupV1CPURoot string
	// ConntrackNetns is the path of the network namespace whose connection
	// tracking translates Service addresses (the node's, for example
	// /proc/<pid of a host process>/ns/net). Empty means the probe's own.
	ConntrackNetns string
	// DisableConntrack turns the Service translation off.
	DisableConntrack bool
	// DNSCacheSize bounds the IP-to-name entries learned from DNS answers,
	// over all containers. Default 65536.
	DNSCacheSize int
	// Logf, when set, receives diagnostics (hook sets that failed to load,
	// a missing conntrack). Nil discards them.
	Logf func(format string, args ...any)
}

// Both platforms' Collectors implement the probe's source interface.
var _ probe.Source = (*Collector)(nil)
