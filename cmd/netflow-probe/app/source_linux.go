//go:build linux

package app

import (
	"errors"
	"fmt"

	"github.com/kubectl-netflow/kubectl-netflow/bpf"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	"github.com/kubectl-netflow/kubectl-netflow/probe/collector"
)

// newSource loads the eBPF collector.
func newSource(cfg SourceConfig) (probe.Source, error) {
	unmount := func() error { return nil }
	if cfg.MountTracefs {
		// Before the collector: the eBPF library looks for tracefs once.
		u, err := bpf.MountTracefs()
		if err != nil {
			if cfg.Logf != nil {
				cfg.Logf("%v: the accept hooks and the classic tracepoint set need tracefs", err)
			}
		} else {
			unmount = u
		}
	}
	c, err := collector.New(collector.Config{
		MaxFlows:     cfg.MaxFlows,
		SkipHookSets: cfg.SkipHookSets,
		ReceiveHook:  cfg.ReceiveHook,
		Logf:         cfg.Logf,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("loading the probe: %w", err), unmount())
	}
	return &tracefsSource{Collector: c, unmount: unmount}, nil
}

// tracefsSource unmounts the tracefs it mounted once the collector is
// closed.
type tracefsSource struct {
	*collector.Collector
	unmount func() error
}

func (s *tracefsSource) Close() error {
	return errors.Join(s.Collector.Close(), s.unmount())
}
