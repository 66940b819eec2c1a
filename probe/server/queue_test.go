package server

import (
	"context"
	"strconv"
	"testing"

	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
)

func interval(seq uint64, records int) item {
	return item{batches: []*probev1.RecordBatch{{Seq: seq, Last: true}}, records: records}
}

func drain(q *queue) []item {
	var out []item
	q.close(nil)
	for {
		it, ok := q.pop(context.Background())
		if !ok {
			return out
		}
		out = append(out, it)
	}
}

func TestQueue(t *testing.T) {
	tests := []struct {
		name           string
		limit          int
		push           []item
		want           []string // kinds and seqs in pop order
		droppedBatches uint64
		droppedRecords uint64
	}{
		{
			name:  "within the limit nothing drops",
			limit: 3,
			push:  []item{{hello: &probev1.Hello{}}, interval(1, 5), interval(2, 5)},
			want:  []string{"hello", "batch 1", "batch 2"},
		},
		{
			name:  "the oldest intervals drop, the hello stays",
			limit: 2,
			push:  []item{{hello: &probev1.Hello{}}, interval(1, 5), interval(2, 6), interval(3, 7), interval(4, 8)},
			want:  []string{"hello", "batch 3", "batch 4"}, droppedBatches: 2, droppedRecords: 11,
		},
		{
			name:  "waiting stats are replaced by newer ones",
			limit: 2,
			push: []item{
				{stats: &probev1.Stats{Seq: 1}}, interval(1, 1),
				{stats: &probev1.Stats{Seq: 2}}, {stats: &probev1.Stats{Seq: 3}},
			},
			want: []string{"stats 3", "batch 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(tt.limit)
			for _, it := range tt.push {
				q.push(it)
			}
			got := drain(q)
			var kinds []string
			for _, it := range got {
				switch {
				case it.hello != nil:
					kinds = append(kinds, "hello")
				case it.stats != nil:
					kinds = append(kinds, "stats "+strconv.FormatUint(it.stats.Seq, 10))
				case it.batches != nil:
					kinds = append(kinds, "batch "+strconv.FormatUint(it.batches[0].Seq, 10))
				}
			}
			if len(kinds) != len(tt.want) {
				t.Fatalf("got %v, want %v", kinds, tt.want)
			}
			for i := range kinds {
				if kinds[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", kinds, tt.want)
				}
			}
			b, r := q.dropped()
			if b != tt.droppedBatches || r != tt.droppedRecords {
				t.Errorf("dropped %d batches %d records, want %d and %d", b, r, tt.droppedBatches, tt.droppedRecords)
			}
		})
	}
}

func TestQueueClosedTakesNothing(t *testing.T) {
	q := newQueue(1)
	q.close(&item{goodbye: &probev1.Goodbye{}})
	q.push(interval(1, 1))
	got := drain(q)
	if len(got) != 1 || got[0].goodbye == nil {
		t.Fatalf("got %d items, want only the goodbye", len(got))
	}
}

func TestQueuePopStopsWithContext(t *testing.T) {
	q := newQueue(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := q.pop(ctx); ok {
		t.Fatal("pop returned an item from an empty queue")
	}
}
