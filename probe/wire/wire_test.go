package wire

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
)

// fullRecord returns a record with every field of flow.Fields set to a value
// of its own, so a field the conversion forgets shows up as a difference.
func fullRecord(i int, ts time.Time) flow.Record {
	var r flow.Record
	for k := range flow.Fields {
		f := &flow.Fields[k]
		switch f.Type {
		case flow.TypeString:
			f.SetStr(&r, fmt.Sprintf("%s-%d", f.Name, i))
		case flow.TypeInt:
			f.SetNum(&r, int64(1000*i+k+1))
		}
	}
	r.TS = ts
	return r
}

// sameRecord compares every field; times by instant, since the wire carries
// instants, not locations.
func sameRecord(t *testing.T, got, want *flow.Record) {
	t.Helper()
	for k := range flow.Fields {
		f := &flow.Fields[k]
		if f.Type == flow.TypeTime {
			if !f.Time(got).Equal(f.Time(want)) {
				t.Errorf("%s: got %v, want %v", f.Name, f.Time(got), f.Time(want))
			}
			continue
		}
		if g, w := f.Value(got), f.Value(want); g != w {
			t.Errorf("%s: got %v, want %v", f.Name, g, w)
		}
	}
}

func TestRecordFieldsMirrorFlowFields(t *testing.T) {
	// The proto Record mirrors flow.Fields by name, so a field added to the
	// record contract without a wire field fails here.
	fields := (&probev1.Record{}).ProtoReflect().Descriptor().Fields()
	if fields.Len() != len(flow.Fields) {
		t.Fatalf("proto Record has %d fields, flow.Fields %d", fields.Len(), len(flow.Fields))
	}
	for _, f := range flow.Fields {
		if fields.ByName(protoName(f.Name)) == nil {
			t.Errorf("proto Record has no field %q", f.Name)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ts := time.Date(2025, 3, 1, 12, 0, 5, 123456789, time.FixedZone("CET", 3600))
	other := ts.Add(-1500 * time.Millisecond)
	tests := []struct {
		name      string
		recs      []flow.Record
		size      int
		batches   int
		ownTS     int // records that carry their own ts on the wire
		batchTime time.Time
	}{
		{name: "empty interval", recs: nil, size: 4, batches: 1, batchTime: ts},
		{name: "one record", recs: []flow.Record{fullRecord(1, ts)}, size: 4, batches: 1, batchTime: ts},
		{name: "exactly one batch", recs: records(4, ts), size: 4, batches: 1, batchTime: ts},
		{name: "one more than a batch", recs: records(5, ts), size: 4, batches: 2, batchTime: ts},
		{name: "default size", recs: records(DefaultBatchSize+1, ts), size: 0, batches: 2, batchTime: ts},
		{name: "zero value record", recs: []flow.Record{{}}, size: 4, batches: 1, batchTime: ts, ownTS: 1},
		{
			name: "a record of another time", recs: []flow.Record{fullRecord(1, ts), fullRecord(2, other)},
			size: 4, batches: 1, batchTime: ts, ownTS: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := Batches(7, tt.batchTime, tt.recs, tt.size)
			if len(bs) != tt.batches {
				t.Fatalf("got %d batches, want %d", len(bs), tt.batches)
			}
			var got []flow.Record
			own := 0
			for i, b := range bs {
				if b.GetSeq() != 7 || b.GetLast() != (i == len(bs)-1) {
					t.Errorf("batch %d: seq %d last %v", i, b.GetSeq(), b.GetLast())
				}
				// Through the wire format, as a client sees it.
				data, err := proto.Marshal(b)
				if err != nil {
					t.Fatal(err)
				}
				var back probev1.RecordBatch
				if err := proto.Unmarshal(data, &back); err != nil {
					t.Fatal(err)
				}
				for _, m := range back.GetRecords() {
					if m.GetTs() != nil {
						own++
					}
				}
				got = AppendRecords(got, &back)
			}
			if own != tt.ownTS {
				t.Errorf("%d records carry their own ts, want %d", own, tt.ownTS)
			}
			if len(got) != len(tt.recs) {
				t.Fatalf("got %d records, want %d", len(got), len(tt.recs))
			}
			for i := range got {
				sameRecord(t, &got[i], &tt.recs[i])
			}
		})
	}
}

func TestStatsRoundTrip(t *testing.T) {
	tests := []probe.Stats{
		{},
		{Flows: 3, MapEntries: 10, MapCapacity: 65536, LostFlows: 1 << 40, RingDrops: 9},
	}
	for _, want := range tests {
		t.Run(fmt.Sprint(want), func(t *testing.T) {
			var m probev1.Stats
			FillStats(&m, want)
			if got := Stats(&m); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func records(n int, ts time.Time) []flow.Record {
	out := make([]flow.Record, n)
	for i := range out {
		out[i] = fullRecord(i, ts)
	}
	return out
}

func BenchmarkBatchesMarshal(b *testing.B) {
	ts := time.Now()
	// Typical probe records: source side only, a container id, a domain.
	recs := make([]flow.Record, 10000)
	for i := range recs {
		recs[i] = flow.Record{
			TS: ts, Protocol: flow.ProtocolTCP, Process: "nginx", PID: int64(1000 + i%50),
			NodeName: "ip-10-0-1-23.eu-west-1.compute.internal", Addr: "10.0.1.23", Port: int64(30000 + i),
			ContainerID: "4f1c0e3b9a7d2c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e",
			DstAddr:     "10.0.2.45", DstPort: 443, DstDomain: "api.example.com",
			TxBytes: 123456, RxBytes: 654321, TxPackets: 100, RxPackets: 120,
		}
	}
	b.ReportAllocs()
	var bytes int
	for b.Loop() {
		bytes = 0
		for _, m := range Batches(1, ts, recs, 0) {
			data, err := proto.Marshal(m)
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(data)
		}
	}
	b.ReportMetric(float64(bytes)/float64(len(recs)), "bytes/record")
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
}

func protoName(s string) protoreflect.Name { return protoreflect.Name(s) }
