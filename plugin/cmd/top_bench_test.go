package cmd

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/flowtest"
)

// writeFlows writes flows × intervals records as NDJSON into a file.
func writeFlows(tb testing.TB, dir string, flows, intervals int) string {
	tb.Helper()
	path := filepath.Join(dir, "flows-"+strconv.Itoa(flows)+"x"+strconv.Itoa(intervals)+".ndjson")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := flow.NewWriter(f)
	fs := flowtest.Flows(flows, 1)
	for t := range intervals {
		for _, r := range flowtest.Records(fs, 1, uint64(t)) {
			r.TS = r.TS.Add(time.Duration(t) * time.Second)
			if err := w.Write(&r); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkReplay runs `top --replay` end to end on a 1,000,000-line file:
// decode, filter, group, sort and print. Set NETFLOW_BENCH_DIR to keep the
// generated files between runs.
func BenchmarkReplay(b *testing.B) {
	dir := os.Getenv("NETFLOW_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	for _, bc := range []struct {
		name             string
		flows, intervals int
		filter           string
		groupBy          []string
	}{
		{"1k-flows-x-1k-intervals", 1000, 1000, `ns in ["gitlab", "metrics"] && dst_workload_kind == "internet"`, []string{"ns", "workload_name", "dst_ns", "dst_workload_name"}},
		{"1M-distinct-flows", 1_000_000, 1, "", nil},
	} {
		path := filepath.Join(dir, "flows-"+strconv.Itoa(bc.flows)+"x"+strconv.Itoa(bc.intervals)+".ndjson")
		if _, err := os.Stat(path); err != nil {
			path = writeFlows(b, dir, bc.flows, bc.intervals)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				o := NewTopOptions(genericclioptions.NewConfigFlags(false), genericiooptions.IOStreams{In: nil, Out: io.Discard, ErrOut: io.Discard})
				o.Replay, o.Filter, o.Output = path, bc.filter, "json"
				if bc.groupBy != nil {
					o.GroupBy = bc.groupBy
				}
				if err := o.Validate(); err != nil {
					b.Fatal(err)
				}
				if err := o.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.flows*bc.intervals)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
