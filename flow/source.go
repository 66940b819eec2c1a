package flow

import (
	"context"
	"time"
)

// Source streams batches of records: a recorded file, or the probes of a
// live cluster.
type Source interface {
	// Stream calls fn with each batch until the source is exhausted, ctx
	// ends or fn returns an error. A live source returns nil when ctx ends.
	// The batch and its records are valid only during the call.
	Stream(ctx context.Context, fn func(*Batch) error) error
}

// Batch is a set of records and, when it changed, the source's status.
type Batch struct {
	Records []Record
	// Status is nil when nothing changed since the last batch.
	Status *Status
}

// Status describes where records come from and how healthy the stream is.
type Status struct {
	// Source names the origin: a kube context, or a file.
	Source string
	// Live is true for a cluster, false for a recording.
	Live bool
	// NodesAsked lists the nodes a probe was asked for.
	NodesAsked []string
	// NodesStreaming lists the nodes whose probe streams now.
	NodesStreaming []string
	// NodesFailed maps a node whose probe failed or was lost to the reason.
	NodesFailed map[string]string
	// NodesNotReading maps a node whose probe streams but failed to read
	// the kernel's flows since its last report to the probe's last error.
	NodesNotReading map[string]string
	// SharedKernel is true when several nodes run on one kernel (kind, k3d,
	// multi-node minikube); each flow is then counted once.
	SharedKernel bool
	// HookSets maps a node to the kernel hook set its probe uses.
	HookSets map[string]string
	// LostFlows and RingDrops add up what the probes could not count.
	LostFlows uint64
	RingDrops uint64
	// Started is when collection started.
	Started time.Time
}
