package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// TestTopEstCost checks that -o json carries est_cost when the grouping
// tells how the traffic is priced, with prices from the flags or a file.
func TestTopEstCost(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "flows.ndjson")
	f, err := os.Create(rec)
	if err != nil {
		t.Fatal(err)
	}
	w := flow.NewWriter(f)
	for _, r := range []flow.Record{
		{Zone: "a", DstZone: "b", TxBytes: 1 << 30, RxBytes: 1 << 30},
		{Zone: "a", DstZone: "a", TxBytes: 1 << 30},
	} {
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	prices := filepath.Join(dir, "prices.yaml")
	if err := os.WriteFile(prices, []byte("crossZone: 0.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want map[string]float64 // zone/dst_zone -> est_cost
	}{
		{"defaults", nil, map[string]float64{"a/b": 0.02, "a/a": 0}},
		{"flag", []string{"--price-cross-zone", "0.1"}, map[string]float64{"a/b": 0.2, "a/a": 0}},
		{"file", []string{"--price-file", prices}, map[string]float64{"a/b": 1, "a/a": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			cmd := NewCmdTop(genericclioptions.NewConfigFlags(true), streams)
			cmd.SetArgs(append([]string{"--replay", rec, "-g", "zone,dst_zone", "-o", "json"}, tt.args...))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			var groups []map[string]any
			if err := json.Unmarshal(out.Bytes(), &groups); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, g := range groups {
				k := strings.Join([]string{g["zone"].(string), g["dst_zone"].(string)}, "/")
				c, ok := g["est_cost"].(float64)
				if !ok || c < tt.want[k]-1e-9 || c > tt.want[k]+1e-9 {
					t.Errorf("%s: est_cost %v, want %v", k, g["est_cost"], tt.want[k])
				}
			}
		})
	}
}
