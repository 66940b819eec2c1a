package server

import (
	"context"
	"sync"

	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
)

// item is one entry of a client's queue: exactly one field is set.
type item struct {
	hello *probev1.Hello
	// batches are the messages of one interval; they are dropped together.
	batches []*probev1.RecordBatch
	records int
	stats   *probev1.Stats
	goodbye *probev1.Goodbye
}

// queue is the bounded queue of events for one client. The collection loop
// pushes without ever waiting; the client's stream pops. When a client reads
// too slowly its oldest intervals are dropped and counted, so it gets the
// freshest data and knows what it missed.
type queue struct {
	mu     sync.Mutex
	items  []item
	limit  int // intervals held at most
	held   int // intervals held now
	closed bool
	notify chan struct{}

	droppedBatches uint64
	droppedRecords uint64
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, notify: make(chan struct{}, 1)}
}

// push adds it to the queue. Stats replace stats that are still waiting,
// since they are cumulative; an interval beyond the limit pushes out the
// oldest interval. A closed queue takes nothing.
func (q *queue) push(it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	switch {
	case it.stats != nil:
		for i := range q.items {
			if q.items[i].stats != nil {
				q.items[i].stats = it.stats
				return
			}
		}
	case it.batches != nil:
		if q.held >= q.limit {
			q.dropOldestInterval()
		}
		q.held++
	}
	q.items = append(q.items, it)
	q.signal()
}

func (q *queue) dropOldestInterval() {
	for i := range q.items {
		if q.items[i].batches == nil {
			continue
		}
		q.droppedBatches++
		q.droppedRecords += uint64(q.items[i].records)
		q.items = append(q.items[:i], q.items[i+1:]...)
		q.held--
		return
	}
}

// close pushes a last item, if any, and lets pop return false once the queue
// is empty.
func (q *queue) close(last *item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if last != nil {
		q.items = append(q.items, *last)
	}
	q.closed = true
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop waits for the next item. It returns false when the queue is closed and
// empty, or ctx is done.
func (q *queue) pop(ctx context.Context) (item, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = item{}
			q.items = q.items[1:]
			if it.batches != nil {
				q.held--
			}
			q.mu.Unlock()
			return it, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return item{}, false
		}
		select {
		case <-q.notify:
		case <-ctx.Done():
			return item{}, false
		}
	}
}

// dropped returns the intervals and records dropped so far.
func (q *queue) dropped() (batches, records uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.droppedBatches, q.droppedRecords
}
