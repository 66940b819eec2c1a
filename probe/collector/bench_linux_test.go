//go:build linux

package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/bpf"
	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// BenchmarkRecords50k measures the user-space half of an interval with
// 50,000 flows: orphan attribution, container and DNS lookups and record
// building (the kernel read is bpf's BenchmarkDrain50k).
func BenchmarkRecords50k(b *testing.B) {
	c := &Collector{
		cfg:     Config{MaxFlows: 65536},
		cgroups: newCgroupResolver(detectCgroupRoot(), detectCPUV1Root()),
		dns:     newDNSCache(0),
		flows:   make(map[tupleID]*flowState),
	}
	const n = 50_000
	src := make([]batchFlow, n)
	for i := range src {
		src[i].Flow = bpf.Flow{
			Proto:    6,
			Local:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(30000+i%30000)),
			Remote:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 12), byte(i)}), 443),
			PID:      uint32(1 + i/10),
			Comm:     "curl",
			CgroupID: 1,
			TxBytes:  1000, RxBytes: 2000, TxPackets: 2, RxPackets: 3,
		}
	}
	recs := make([]flow.Record, 0, n)
	b.ResetTimer()
	for range b.N {
		c.interval++
		c.batch = append(c.batch[:0], src...)
		c.attributeOrphans()
		recs = recs[:0]
		budget := 0
		now := time.Now()
		for i := range c.batch {
			recs = append(recs, c.record(&c.batch[i], now, &budget))
		}
		c.forget()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/interval")
}
