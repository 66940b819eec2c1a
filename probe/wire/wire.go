// Package wire converts between the flow records and stats of the probe and
// the messages of the probe protocol (probe/api/v1).
package wire

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
)

// DefaultBatchSize is how many records one RecordBatch message holds at most.
// At about 150 bytes a record it keeps a message well under gRPC's default
// 4 MiB limit, so an interval of any size goes through.
const DefaultBatchSize = 4096

// Batches splits the records of interval seq, which ended at ts, into
// RecordBatch messages of at most size records (DefaultBatchSize when size is
// not positive). An interval without records is one empty batch, so the
// client still sees the interval go by. The last batch has Last set.
func Batches(seq uint64, ts time.Time, recs []flow.Record, size int) []*probev1.RecordBatch {
	if size <= 0 {
		size = DefaultBatchSize
	}
	pts := timestamppb.New(ts)
	n := max(1, (len(recs)+size-1)/size)
	out := make([]*probev1.RecordBatch, 0, n)
	for i := 0; i < n; i++ {
		chunk := recs[min(i*size, len(recs)):min((i+1)*size, len(recs))]
		b := &probev1.RecordBatch{Seq: seq, Ts: pts, Records: make([]*probev1.Record, len(chunk)), Last: i == n-1}
		// One allocation for the records of a batch instead of one each.
		backing := make([]probev1.Record, len(chunk))
		for j := range chunk {
			FillRecord(&backing[j], &chunk[j], ts)
			b.Records[j] = &backing[j]
		}
		out = append(out, b)
	}
	return out
}

// FillRecord fills m from r. batchTS is the ts of the batch m goes into: the
// record's own ts goes on the wire only when it differs.
func FillRecord(m *probev1.Record, r *flow.Record, batchTS time.Time) {
	if !r.TS.Equal(batchTS) {
		m.Ts = timestamppb.New(r.TS)
	}
	m.Protocol = r.Protocol
	m.Process = r.Process
	m.Pid = r.PID
	m.ContainerName = r.ContainerName
	m.PodName = r.PodName
	m.Ns = r.NS
	m.Zone = r.Zone
	m.WorkloadName = r.WorkloadName
	m.WorkloadKind = r.WorkloadKind
	m.NodeName = r.NodeName
	m.Addr = r.Addr
	m.Port = r.Port
	m.ContainerId = r.ContainerID
	m.DstAddr = r.DstAddr
	m.DstPort = r.DstPort
	m.DstDomain = r.DstDomain
	m.DstPodName = r.DstPodName
	m.DstNs = r.DstNS
	m.DstZone = r.DstZone
	m.DstWorkloadName = r.DstWorkloadName
	m.DstWorkloadKind = r.DstWorkloadKind
	m.DstNodeName = r.DstNodeName
	m.DstSvcAddr = r.DstSvcAddr
	m.DstSvcPort = r.DstSvcPort
	m.TxBytes = r.TxBytes
	m.RxBytes = r.RxBytes
	m.TxPackets = r.TxPackets
	m.RxPackets = r.RxPackets
}

// AppendRecords appends the records of batch b to dst.
func AppendRecords(dst []flow.Record, b *probev1.RecordBatch) []flow.Record {
	ts := b.GetTs().AsTime()
	for _, m := range b.GetRecords() {
		dst = append(dst, Record(m, ts))
	}
	return dst
}

// Record returns the flow record m describes. batchTS is the ts of the batch
// m came in, the record's ts unless m has its own.
func Record(m *probev1.Record, batchTS time.Time) flow.Record {
	ts := batchTS
	if m.GetTs() != nil {
		ts = m.GetTs().AsTime()
	}
	return flow.Record{
		TS:              ts,
		Protocol:        m.GetProtocol(),
		Process:         m.GetProcess(),
		PID:             m.GetPid(),
		ContainerName:   m.GetContainerName(),
		PodName:         m.GetPodName(),
		NS:              m.GetNs(),
		Zone:            m.GetZone(),
		WorkloadName:    m.GetWorkloadName(),
		WorkloadKind:    m.GetWorkloadKind(),
		NodeName:        m.GetNodeName(),
		Addr:            m.GetAddr(),
		Port:            m.GetPort(),
		ContainerID:     m.GetContainerId(),
		DstAddr:         m.GetDstAddr(),
		DstPort:         m.GetDstPort(),
		DstDomain:       m.GetDstDomain(),
		DstPodName:      m.GetDstPodName(),
		DstNS:           m.GetDstNs(),
		DstZone:         m.GetDstZone(),
		DstWorkloadName: m.GetDstWorkloadName(),
		DstWorkloadKind: m.GetDstWorkloadKind(),
		DstNodeName:     m.GetDstNodeName(),
		DstSvcAddr:      m.GetDstSvcAddr(),
		DstSvcPort:      m.GetDstSvcPort(),
		TxBytes:         m.GetTxBytes(),
		RxBytes:         m.GetRxBytes(),
		TxPackets:       m.GetTxPackets(),
		RxPackets:       m.GetRxPackets(),
	}
}

// FillStats fills the probe-wide part of m from s.
func FillStats(m *probev1.Stats, s probe.Stats) {
	m.Flows = uint64(max(0, s.Flows))
	m.MapEntries = uint64(max(0, s.MapEntries))
	m.MapCapacity = uint64(max(0, s.MapCapacity))
	m.LostFlows = s.LostFlows
	m.RingDrops = s.RingDrops
}

// Stats returns the probe-wide part of m.
func Stats(m *probev1.Stats) probe.Stats {
	return probe.Stats{
		Flows:       int(m.GetFlows()),
		MapEntries:  int(m.GetMapEntries()),
		MapCapacity: int(m.GetMapCapacity()),
		LostFlows:   m.GetLostFlows(),
		RingDrops:   m.GetRingDrops(),
	}
}
