package tui

import (
	"context"
	"errors"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// The feed coalesces what the source streams: however many batches arrive,
// Update gets one message per wake-up with everything pending, at most
// maxPerMsg records, so that keys keep their turn at 50,000 records/s.
// Past maxPending records the source waits, which bounds memory when a
// recording is replayed all at once.
const (
	maxPerMsg  = 20_000
	maxPending = 200_000
)

// batchMsg carries the records and status that arrived since the last one.
type batchMsg struct {
	records []flow.Record
	status  *flow.Status
	// done is set when the stream ended, err when it failed.
	done bool
	err  error
}

// feed runs a Source in a goroutine and hands what it streams to Update
// through a Cmd that the model re-arms after each message.
type feed struct {
	mu      sync.Mutex
	space   *sync.Cond
	pending []flow.Record
	status  *flow.Status
	done    bool
	err     error
	wake    chan struct{}
}

func newFeed() *feed {
	f := &feed{wake: make(chan struct{}, 1)}
	f.space = sync.NewCond(&f.mu)
	return f
}

// run streams src until it ends or ctx does. It is the only writer.
func (f *feed) run(ctx context.Context, src flow.Source) {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.space.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	err := src.Stream(ctx, func(b *flow.Batch) error {
		f.mu.Lock()
		for len(f.pending) >= maxPending && ctx.Err() == nil {
			f.space.Wait()
		}
		if err := ctx.Err(); err != nil {
			f.mu.Unlock()
			return err
		}
		// The batch is valid only during this call: copy the records.
		f.pending = append(f.pending, b.Records...)
		if b.Status != nil {
			st := *b.Status
			f.status = &st
		}
		f.mu.Unlock()
		f.signal()
		return nil
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	f.mu.Lock()
	f.done, f.err = true, err
	f.mu.Unlock()
	f.signal()
}

func (f *feed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// next is the Cmd that waits for what the source streamed.
func (f *feed) next() tea.Msg {
	<-f.wake
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(len(f.pending), maxPerMsg)
	msg := batchMsg{records: f.pending[:n:n], status: f.status}
	f.status = nil
	if n == len(f.pending) {
		f.pending = nil
		msg.done, msg.err = f.done, f.err
	} else {
		f.pending = f.pending[n:]
		f.signal()
	}
	f.space.Broadcast()
	return msg
}
