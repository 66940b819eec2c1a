package store

import (
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/flowtest"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

func fields(t testing.TB, names ...string) []*flow.Field {
	t.Helper()
	fs, err := flow.ParseFields(names)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func rec(sec int, ns, dst string, tx, rx int64) flow.Record {
	return flow.Record{
		TS: flowtest.Start.Add(time.Duration(sec) * time.Second), Protocol: "tcp", Process: "app",
		NS: ns, WorkloadName: ns + "-app", DstNS: dst, DstWorkloadName: dst + "-db", DstWorkloadKind: "Deployment",
		TxBytes: tx, RxBytes: rx,
	}
}

func TestRatesAndTotals(t *testing.T) {
	s := New(nil)
	s.SetQuery(Query{GroupBy: fields(t, "ns")})
	// shop sends 1000 B/s for 50 s, then stops; web sends 10 B/s throughout.
	for sec := range 60 {
		var rs []flow.Record
		if sec < 50 {
			rs = append(rs, rec(sec, "shop", "db", 1000, 100))
		}
		rs = append(rs, rec(sec, "web", "db", 10, 0))
		s.Ingest(rs)
	}
	groups := s.Refresh()
	byNS := map[string]*Group{}
	for _, g := range groups {
		byNS[g.Values[0]] = g
	}
	shop, web := byNS["shop"], byNS["web"]
	if shop == nil || web == nil {
		t.Fatalf("groups: %v", groups)
	}
	tests := []struct {
		name   string
		g      *Group
		window int
		tx, rx float64
	}{
		{"ended flow, 2s", shop, 2, 0, 0},
		{"ended flow, 40s: 30 of 40 s active", shop, 40, 750, 75},
		{"steady, 10s", web, 10, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, rx := tt.g.Rate(tt.window)
			if tx != tt.tx || rx != tt.rx {
				t.Errorf("Rate(%d) = %v, %v; want %v, %v", tt.window, tx, rx, tt.tx, tt.rx)
			}
		})
	}
	if shop.TxBytes != 50_000 || shop.RxBytes != 5_000 {
		t.Errorf("shop totals = %d/%d, want 50000/5000: totals must survive the end of a flow", shop.TxBytes, shop.RxBytes)
	}
	// Past the ring, the flow is no longer active but still counted.
	s.Advance(flowtest.Start.Unix() + 200)
	s.Refresh()
	if shop.Active != 0 || shop.TxBytes != 50_000 {
		t.Errorf("after 200 s: active %d, tx %d", shop.Active, shop.TxBytes)
	}
}

func TestRegroupAndRefilter(t *testing.T) {
	s := New(nil)
	s.Ingest(flowtest.Records(flowtest.Flows(300, 1), 5, 2))
	s.SetQuery(Query{GroupBy: fields(t, "ns")})
	var total int64
	for _, g := range s.Refresh() {
		total += g.Total()
	}
	s.SetQuery(Query{GroupBy: fields(t, "zone", "dst_zone")})
	var total2 int64
	for _, g := range s.Refresh() {
		total2 += g.Total()
	}
	if total != total2 || total == 0 {
		t.Errorf("regrouping changed the total: %d vs %d", total, total2)
	}
	f, err := query.CompileFilter(`ns == "shop"`)
	if err != nil {
		t.Fatal(err)
	}
	s.SetQuery(Query{Filter: f, GroupBy: fields(t, "ns")})
	groups := s.Refresh()
	if len(groups) != 1 || groups[0].Values[0] != "shop" {
		t.Fatalf("filtered groups: %+v", groups)
	}
	// The same through the engine that -o uses.
	agg := query.NewAggregator(f, fields(t, "ns"))
	agg.AddAll(flowtest.Records(flowtest.Flows(300, 1), 5, 2))
	if want := agg.Groups()[0].Total(); groups[0].Total() != want {
		t.Errorf("store total %d, aggregator %d", groups[0].Total(), want)
	}
}

func TestSpike(t *testing.T) {
	s := New(nil)
	s.SetQuery(Query{GroupBy: fields(t, "ns")})
	for sec := range 30 {
		tx := int64(10_000)
		if sec >= 28 {
			tx = 1_000_000
		}
		s.Ingest([]flow.Record{rec(sec, "shop", "db", tx, 0), rec(sec, "web", "db", 10_000, 0)})
	}
	for _, g := range s.Refresh() {
		if want := g.Values[0] == "shop"; g.Spike != want {
			t.Errorf("%s: spike %v, want %v", g.Values[0], g.Spike, want)
		}
	}
}

func TestPrice(t *testing.T) {
	s := New(func(r *flow.Record) (float64, float64) {
		if r.DstWorkloadKind == flow.KindInternet {
			return 1, 0
		}
		return 0, 0
	})
	s.SetQuery(Query{GroupBy: fields(t, "ns")})
	r := rec(0, "shop", "", 100, 50)
	r.DstWorkloadKind = flow.KindInternet
	s.Ingest([]flow.Record{r, rec(0, "shop", "db", 1000, 1000)})
	if g := s.Refresh()[0]; g.Cost != 100 {
		t.Errorf("cost = %v, want 100: only the internet flow's bytes sent", g.Cost)
	}
}

// BenchmarkIngest measures the cost of one record, as a live cluster of
// 100,000 distinct flows streams them.
func BenchmarkIngest(b *testing.B) {
	recs := flowtest.Records(flowtest.Flows(100_000, 1), 3, 2)
	s := New(nil)
	s.SetQuery(Query{GroupBy: fields(b, query.DefaultGroupBy...)})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.add(&recs[i%len(recs)])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
}

// BenchmarkRefresh measures a refresh of 100,000 active flows.
func BenchmarkRefresh(b *testing.B) {
	s := New(nil)
	s.Ingest(flowtest.Records(flowtest.Flows(100_000, 1), 3, 2))
	s.SetQuery(Query{GroupBy: fields(b, query.DefaultGroupBy...)})
	s.Refresh()
	b.Run("incremental", func(b *testing.B) {
		for range b.N {
			s.Refresh()
		}
	})
	b.Run("regroup", func(b *testing.B) {
		for range b.N {
			s.SetQuery(Query{GroupBy: fields(b, query.DefaultGroupBy...)})
			s.Refresh()
		}
	})
}
