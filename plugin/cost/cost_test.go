package cost

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

func TestPerByte(t *testing.T) {
	p := Prices{CrossZone: 0.01, Internet: 0.09}
	tests := []struct {
		name   string
		r      flow.Record
		tx, rx float64
	}{
		{"internet: bytes sent only", flow.Record{Zone: "a", DstWorkloadKind: flow.KindInternet}, 0.09, 0},
		{"cross-zone: both directions", flow.Record{Zone: "a", DstZone: "b"}, 0.01, 0.01},
		{"same zone", flow.Record{Zone: "a", DstZone: "a"}, 0, 0},
		{"unknown zone", flow.Record{Zone: "a", DstWorkloadKind: flow.KindService}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, rx := p.PerByte(&tt.r)
			if tx*GiB != tt.tx || rx*GiB != tt.rx {
				t.Errorf("PerByte = %v, %v per GiB; want %v, %v", tx*GiB, rx*GiB, tt.tx, tt.rx)
			}
		})
	}
}

func TestForGroups(t *testing.T) {
	p := Default()
	fields := func(names ...string) []*flow.Field {
		fs, err := flow.ParseFields(names)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	g := func(tx, rx int64, values ...any) *query.Group {
		return &query.Group{Values: values, Counters: query.Counters{TxBytes: tx, RxBytes: rx}}
	}
	tests := []struct {
		name    string
		groupBy []*flow.Field
		g       *query.Group
		cost    float64
		known   bool
	}{
		{"zone pair crossing", fields("zone", "dst_zone"), g(GiB, GiB, "a", "b"), 0.02, true},
		{"zone pair same", fields("zone", "dst_zone"), g(GiB, GiB, "a", "a"), 0, true},
		{"zone pair, destination unknown", fields("zone", "dst_zone"), g(GiB, GiB, "a", ""), 0, false},
		{"internet kind", fields("ns", "dst_workload_kind"), g(2*GiB, GiB, "shop", "internet"), 0.18, true},
		{"namespace only", fields("ns"), g(GiB, GiB, "shop"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := p.ForGroups(tt.groupBy)(tt.g)
			if ok != tt.known || (ok && (c < tt.cost-1e-9 || c > tt.cost+1e-9)) {
				t.Errorf("cost = %v, %v; want %v, %v", c, ok, tt.cost, tt.known)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, err := Load(write("p.yaml", "crossZone: 0.02\n"), Default())
	if err != nil || p.CrossZone != 0.02 || p.Internet != DefaultInternet {
		t.Errorf("yaml: %+v, %v", p, err)
	}
	if p, err = Load(write("p.json", `{"internet": 0.05}`), Default()); err != nil || p.Internet != 0.05 {
		t.Errorf("json: %+v, %v", p, err)
	}
	if _, err = Load(write("typo.yaml", "crossZon: 0.02\n"), Default()); err == nil {
		t.Error("an unknown key was accepted")
	}
	if _, err = Load(write("neg.yaml", "internet: -1\n"), Default()); err == nil {
		t.Error("a negative price was accepted")
	}
}
