//go:build !linux

package app

import (
	"errors"

	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

func newSource(SourceConfig) (probe.Source, error) {
	return nil, errors.New("the probe runs on Linux only")
}
