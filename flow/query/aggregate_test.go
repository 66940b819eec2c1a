package query

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/flowtest"
)

// naive groups records the obvious way, as a reference for the Aggregator.
func naive(t *testing.T, rs []flow.Record, filter string, groupBy []string) map[string]Counters {
	t.Helper()
	var f *Filter
	if filter != "" {
		var err error
		if f, err = CompileFilter(filter); err != nil {
			t.Fatal(err)
		}
	}
	fields, err := flow.ParseFields(groupBy)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Counters{}
	for i := range rs {
		if f != nil {
			if ok, _ := f.Match(&rs[i]); !ok {
				continue
			}
		}
		var key []string
		for _, fd := range fields {
			key = append(key, fd.Format(&rs[i]))
		}
		c := out[strings.Join(key, "|")]
		c.Add(&rs[i])
		out[strings.Join(key, "|")] = c
	}
	return out
}

func TestAggregatorMatchesNaive(t *testing.T) {
	rs := flowtest.Records(flowtest.Flows(3000, 11), 4, 12)
	tests := []struct {
		filter  string
		groupBy []string
	}{
		{"", DefaultGroupBy},
		{"", []string{"zone", "dst_zone"}},
		{"", []string{"process"}},
		{`zone != "" && dst_zone != "" && zone != dst_zone`, []string{"zone", "dst_zone"}},
		{`ns in ["metrics", "kube-system"]`, []string{"ns", "workload_name", "dst_ns", "dst_workload_name"}},
		{`ns == "gitlab" && dst_workload_kind == "internet"`, []string{"pod_name", "dst_domain", "dst_port"}},
		{`dst_port == 443`, []string{"ns"}},
		{`tx_bytes > 20000`, []string{"ns", "dst_ns"}}, // varies: evaluated per record
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s by %v", tt.filter, tt.groupBy), func(t *testing.T) {
			want := naive(t, rs, tt.filter, tt.groupBy)
			var f *Filter
			if tt.filter != "" {
				f, _ = CompileFilter(tt.filter)
			}
			fields, _ := flow.ParseFields(tt.groupBy)
			a := NewAggregator(f, fields)
			a.AddAll(rs)
			got := map[string]Counters{}
			for _, g := range a.Groups() {
				got[strings.Join(g.Key(), "|")] = g.Counters
			}
			if len(want) == 0 {
				t.Fatal("the reference found no groups; the test data does not exercise this filter")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %d groups, want %d; first differences: %v", len(got), len(want), diff(got, want))
			}
		})
	}
}

func diff(got, want map[string]Counters) []string {
	var d []string
	for k, w := range want {
		if g := got[k]; g != w && len(d) < 3 {
			d = append(d, fmt.Sprintf("%s: got %+v want %+v", k, g, w))
		}
	}
	return d
}

func TestSortIsStable(t *testing.T) {
	groups := []*Group{
		{Values: []any{"b", int64(2)}, Counters: Counters{TxBytes: 5, RxBytes: 1}},
		{Values: []any{"a", int64(10)}, Counters: Counters{TxBytes: 5, RxBytes: 9}},
		{Values: []any{"a", int64(9)}, Counters: Counters{TxBytes: 5, RxBytes: 9}},
		{Values: []any{"c", int64(1)}, Counters: Counters{TxBytes: 1, RxBytes: 20}},
	}
	order := func() string {
		var s []string
		for _, g := range groups {
			s = append(s, strings.Join(g.Key(), ":"))
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		by      SortKey
		reverse bool
		want    string
	}{
		{SortTx, false, "a:9 a:10 b:2 c:1"},
		{SortRx, false, "c:1 a:9 a:10 b:2"},
		{SortTotal, false, "c:1 a:9 a:10 b:2"},
		{SortTx, true, "c:1 a:9 a:10 b:2"},
	}
	for _, tt := range tests {
		Sort(groups, tt.by, tt.reverse)
		if got := order(); got != tt.want {
			t.Errorf("sort %v reverse=%v: %s, want %s", tt.by, tt.reverse, got, tt.want)
		}
	}
}

func TestWindow(t *testing.T) {
	a := NewAggregator(nil, mustFields(t, "ns"))
	if a.Window() != 0 {
		t.Fatal("an empty aggregator covers no time")
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	for i := range 10 {
		a.Add(&flow.Record{TS: t0.Add(time.Duration(i) * 2 * time.Second), NS: "a", TxBytes: 100})
	}
	if got := a.Window(); got != 20*time.Second {
		t.Errorf("window = %v, want 20s (18 s between first and last, plus one 2 s interval)", got)
	}
}

func TestParseSortKey(t *testing.T) {
	if k, err := ParseSortKey("rx"); err != nil || k != SortRx {
		t.Fatalf("rx: %v %v", k, err)
	}
	if _, err := ParseSortKey("bytes"); err == nil || !strings.Contains(err.Error(), "valid keys: total, tx, rx") {
		t.Fatalf("error = %v", err)
	}
}

func mustFields(t testing.TB, names ...string) []*flow.Field {
	fs, err := flow.ParseFields(names)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// BenchmarkAggregate measures filter + group of decoded records on one
// core, with a realistic filter and a four-field grouping. 10,000 flows
// repeat over 100 intervals.
func BenchmarkAggregate(b *testing.B) {
	rs := flowtest.Records(flowtest.Flows(10_000, 1), 100, 2)
	for _, bc := range []struct{ name, filter string }{
		{"no-filter", ""},
		{"cross-zone", `zone != "" && dst_zone != "" && zone != dst_zone`},
		{"ns-internet", `ns in ["gitlab", "metrics"] && dst_workload_kind == "internet"`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var f *Filter
			if bc.filter != "" {
				f, _ = CompileFilter(bc.filter)
			}
			fields := mustFields(b, "ns", "workload_name", "dst_ns", "dst_workload_name")
			b.ResetTimer()
			n := 0
			for b.Loop() {
				a := NewAggregator(f, fields)
				a.AddAll(rs)
				n += len(rs)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
