//go:build linux

package app

import (
	"fmt"

	"github.com/kubectl-netflow/kubectl-netflow/probe"
	"github.com/kubectl-netflow/kubectl-netflow/probe/collector"
)

// newSource loads the eBPF collector.
func newSource(cfg SourceConfig) (probe.Source, error) {
	c, err := collector.New(collector.Config{
		MaxFlows:     cfg.MaxFlows,
		SkipHookSets: cfg.SkipHookSets,
		ReceiveHook:  cfg.ReceiveHook,
		Logf:         cfg.Logf,
	})
	if err != nil {
		return nil, fmt.Errorf("loading the probe: %w", err)
	}
	return c, nil
}
