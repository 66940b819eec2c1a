//go:build linux

package app

import (
	"errors"

	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

func newSource(SourceConfig) (probe.Source, error) {
	// The eBPF collector (probe/collector) is wired in here once it lands.
	return nil, errors.New("this build has no eBPF collector yet")
}
