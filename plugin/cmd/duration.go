package cmd

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// errCollected ends a collection that ran for --duration.
var errCollected = errors.New("collected for --duration")

// durationTimer ends a collection --duration after it started: a replay
// starts at once, a live session when its first probe streams, so that
// starting the probes does not eat into the duration.
type durationTimer struct {
	d      time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	once   sync.Once
}

// withDuration returns a context that ends d after the collection starts;
// d = 0 never ends it. Call stop when done.
func withDuration(ctx context.Context, d time.Duration, startNow bool) (*durationTimer, context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := &durationTimer{d: d, ctx: ctx, cancel: cancel}
	if startNow {
		t.start()
	}
	return t, ctx, func() { cancel(nil) }
}

func (t *durationTimer) start() {
	if t.d <= 0 {
		return
	}
	t.once.Do(func() {
		timer := time.AfterFunc(t.d, func() { t.cancel(errCollected) })
		context.AfterFunc(t.ctx, func() { timer.Stop() })
	})
}

// observe starts the timer at the first batch that shows a probe streaming.
func (t *durationTimer) observe(b *flow.Batch) {
	if len(b.Records) > 0 || b.Status != nil && len(b.Status.NodesStreaming) > 0 {
		t.start()
	}
}

// done reports whether the collection ended because the duration passed.
func (t *durationTimer) done() bool { return errors.Is(context.Cause(t.ctx), errCollected) }
