//go:build linux

package collector

import (
	"context"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/bpf"
)

// BenchmarkRecords50k measures the user-space half of an interval with
// 50,000 flows, as Collect does it: remembered state, container and DNS
// lookups, record building and orphan attribution (the kernel read is bpf's
// BenchmarkDrain50k).
func BenchmarkRecords50k(b *testing.B) {
	c := newUserCollector(65536)
	const n = 50_000
	src := benchFlows(n)
	// Drain hands out chunks of 4096 flows from a scratch slice.
	scratch := make([]bpf.Flow, 4096)
	drain := func(fn func([]bpf.Flow)) (int, error) {
		for i := 0; i < len(src); i += len(scratch) {
			n := copy(scratch, src[i:])
			fn(scratch[:n])
		}
		return len(src), nil
	}
	// The first interval creates the state of every flow; the figure is
	// for the intervals after it.
	if _, _, err := c.records(time.Now(), drain); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		recs, _, err := c.records(time.Now(), drain)
		if err != nil || len(recs) != n {
			b.Fatalf("%d records: %v", len(recs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/interval")
	// CPU time (all threads, the garbage collector's included) is steadier
	// than wall time on a busy machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/interval")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

// newUserCollector is a Collector without a kernel probe, for what
// records does with the flows a drain function hands it.
func newUserCollector(maxFlows int) *Collector {
	return &Collector{
		cfg:     Config{MaxFlows: maxFlows},
		cgroups: newCgroupResolver(detectCgroupRoot(), detectCPUV1Root()),
		dns:     newDNSCache(0),
		flows:   newFlowTable(),
	}
}

// benchFlows makes n distinct flows, 1 % of them unattributed.
func benchFlows(n int) []bpf.Flow {
	src := make([]bpf.Flow, n)
	for i := range src {
		src[i] = bpf.Flow{
			Proto:    6,
			Local:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(30000+i%30000)),
			Remote:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 12), byte(i)}), 443),
			PID:      uint32(1 + i/10),
			Comm:     "curl",
			CgroupID: 1,
			TxBytes:  1000, RxBytes: 2000, TxPackets: 2, RxPackets: 3,
		}
		if i%100 == 0 {
			src[i].PID = 0 // a few unattributed packets
		}
	}
	return src
}

// BenchmarkCollect50k measures a whole interval of the attached probe with
// 50,000 flows in the kernel map, as the server calls it: the map switch,
// the kernel read, the records. The flows are stored in the map before
// each interval (untimed), as if the programs had counted them; the
// machine's own traffic adds a few. Conntrack is off: these flows would be
// new to it in every interval, and the time Collect spends asking it about
// new flows has its own bound (conntrackBudget).
func BenchmarkCollect50k(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("loads eBPF programs: run as root")
	}
	c, err := New(Config{DisableConntrack: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	src := benchFlows(50_000)
	interval := func() {
		b.StopTimer()
		if err := c.probe.InjectFlows(src); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		recs, _, err := c.Collect(context.Background())
		if err != nil || len(recs) < len(src)-len(src)/100 {
			b.Fatalf("%d records: %v", len(recs), err)
		}
	}
	interval() // creates the state of every flow
	b.ResetTimer()
	for range b.N {
		interval()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/interval")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB is the process's peak resident set (VmHWM).
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kib, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kib) / 1024
		}
	}
	return 0
}
