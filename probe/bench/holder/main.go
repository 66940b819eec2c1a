//go:build linux

// Command holder attaches the collector and drains it every second until
// SIGINT or SIGTERM, for probe/bench/run.sh. On exit it prints its peak RSS
// and the flows it read. With -attach=false it attaches nothing and waits:
// the runs without the probe go through the same steps as those with it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/probe"
	"github.com/kubectl-netflow/kubectl-netflow/probe/collector"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(1)
	}
}

func run() error {
	attach := flag.Bool("attach", true, "attach the probe; false waits for the signal with nothing attached")
	recv := flag.String("receive-hook", "", "when the socket layer's receive hook runs: sampled (default), always or off")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !*attach {
		fmt.Println("hookset none")
		<-ctx.Done()
		return nil
	}
	c, err := collector.New(collector.Config{ReceiveHook: probe.ReceiveHook(*recv)})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("hookset", c.HookSet())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flows := 0
	for {
		select {
		case <-ctx.Done():
			fmt.Println("flows", flows)
			fmt.Println("rss_peak_kib", peakRSS())
			return nil
		case <-tick.C:
			recs, _, err := c.Collect(ctx)
			if err != nil {
				return err
			}
			flows += len(recs)
		}
	}
}

func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), " kB")
		}
	}
	return "?"
}
