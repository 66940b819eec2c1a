// Package probe is the node agent: it collects flow records from the kernel
// and serves them to the plugin.
package probe

import (
	"context"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// Stats describes the health of a collector at the end of an interval.
// Losses are cumulative since the collector started, so a client that missed
// a report still sees them.
type Stats struct {
	// Flows is the number of records of the interval.
	Flows int
	// MapEntries and MapCapacity tell how full the kernel flow map is.
	MapEntries  int
	MapCapacity int
	// LostFlows counts flow updates the kernel could not store because the
	// flow map was full.
	LostFlows uint64
	// RingDrops counts events the kernel dropped because a ring buffer was full.
	RingDrops uint64
}

// Source yields the flow records of a node, one interval at a time.
type Source interface {
	// Collect returns the records of the interval that ended now: exact
	// deltas since the previous call, source side only (no Kubernetes names).
	// The slice is the caller's until the next call, which may reuse it:
	// copy what must live longer. With an error, the records are those
	// read before it, whose flows have left the kernel: hand them on.
	Collect(ctx context.Context) ([]flow.Record, Stats, error)
	// HookSet names the set of kernel hooks that is active.
	HookSet() string
	// Close detaches every program and frees the kernel maps.
	Close() error
}
