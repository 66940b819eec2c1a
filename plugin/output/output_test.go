package output

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func result(t *testing.T, cost bool) *Result {
	t.Helper()
	groupBy, err := flow.ParseFields([]string{"ns", "dst_workload_kind", "dst_port"})
	if err != nil {
		t.Fatal(err)
	}
	r := &Result{
		GroupBy: groupBy,
		Window:  10 * time.Second,
		Groups: []*query.Group{
			{Values: []any{"gitlab", "internet", int64(443)}, Counters: query.Counters{TxBytes: 3 << 30, RxBytes: 150 << 20, TxPackets: 2_200_000, RxPackets: 900_000}, Records: 10},
			{Values: []any{"metrics", "Deployment", int64(9090)}, Counters: query.Counters{TxBytes: 1536, RxBytes: 1 << 20, TxPackets: 12, RxPackets: 700}, Records: 4},
			{Values: []any{"", "node", int64(10250)}, Counters: query.Counters{TxBytes: 100, RxBytes: 0, TxPackets: 1}, Records: 1},
		},
	}
	if cost {
		r.Cost = func(g *query.Group) (float64, bool) {
			if g.Values[1] != "internet" {
				return 0, false
			}
			return float64(g.TxBytes) / (1 << 30) * 0.09, true
		}
	}
	return r
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		cost   bool
	}{
		{"table", Table, false},
		{"wide", Wide, false},
		{"json", JSON, false},
		{"yaml", YAML, false},
		{"table-cost", Table, true},
		{"json-cost", JSON, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Print(&b, tc.format, result(t, tc.cost)); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, b.String())
			}
		})
	}
}

func TestJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := Print(&b, JSON, result(t, false)); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("-o json is not valid JSON: %v\n%s", err, b.String())
	}
	if len(got) != 3 {
		t.Fatalf("got %d elements, want 3", len(got))
	}
	for _, k := range []string{"ns", "dst_workload_kind", "dst_port", "tx_bytes", "rx_bytes", "tx_packets", "rx_packets"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("element lacks %q: %v", k, got[0])
		}
	}
	if got[0]["tx_bytes"].(float64) != 3<<30 || got[0]["dst_port"].(float64) != 443 {
		t.Errorf("wrong values: %v", got[0])
	}
	var empty bytes.Buffer
	Print(&empty, JSON, &Result{})
	if empty.String() != "[]\n" {
		t.Errorf("no groups print %q, want []", empty.String())
	}
}

func TestParseFormat(t *testing.T) {
	if _, err := ParseFormat("xml"); err == nil || err.Error() != `unknown output format "xml"; valid formats: table, wide, json, yaml` {
		t.Errorf("error = %v", err)
	}
}
