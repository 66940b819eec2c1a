//go:build !linux

package collector

import (
	"context"
	"errors"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// ErrNotLinux is returned by New on platforms other than Linux.
var ErrNotLinux = errors.New("the probe runs on Linux only")

// Collector is the Linux flow collector; elsewhere it cannot be created.
type Collector struct{}

// New returns ErrNotLinux: the probe needs a Linux kernel with eBPF.
func New(Config) (*Collector, error) { return nil, ErrNotLinux }

// Collect implements probe.Source.
func (*Collector) Collect(context.Context) ([]flow.Record, probe.Stats, error) {
	return nil, probe.Stats{}, ErrNotLinux
}

// HookSet implements probe.Source.
func (*Collector) HookSet() string { return "" }

// Close implements probe.Source.
func (*Collector) Close() error { return nil }
