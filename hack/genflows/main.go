// Command genflows writes synthetic flow records as NDJSON, for benchmarks
// and demos: genflows -flows 1000 -intervals 60 > flows.ndjson
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/flowtest"
)

func main() {
	flows := flag.Int("flows", 1000, "distinct flows")
	intervals := flag.Int("intervals", 60, "one-second intervals")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*flows, *intervals, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(flows, intervals int, seed uint64) error {
	w := flow.NewWriter(os.Stdout)
	fs := flowtest.Flows(flows, seed)
	for t := range intervals {
		for _, r := range flowtest.Records(fs, 1, seed+uint64(t)) {
			r.TS = flowtest.Start.Add(time.Duration(t) * time.Second)
			if err := w.Write(&r); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}
