package client

import (
	"testing"

	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
)

// TestMissedBeforeFirstBatch: a probe whose hello names the last interval
// before the stream lets the client count intervals dropped before it read
// any; with an older probe's hello, the first batch counts nothing missed.
func TestMissedBeforeFirstBatch(t *testing.T) {
	for _, tt := range []struct {
		name     string
		hello    *uint64
		first    uint64
		wantMiss uint64
	}{
		{"hello seq, none dropped", ptr(5), 6, 0},
		{"hello seq, the interval being sent as the client joined", ptr(5), 5, 0},
		{"hello seq, two dropped", ptr(5), 8, 2},
		{"hello seq 0, the first dropped", ptr(0), 2, 1},
		{"older probe", nil, 8, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{}
			if tt.hello != nil {
				c.lastSeq, c.seqKnown = *tt.hello, true
			}
			b := c.addBatch(&probev1.RecordBatch{Seq: tt.first, Last: true})
			if b == nil || b.Missed != tt.wantMiss {
				t.Fatalf("first batch %d after hello %v: got %+v, want %d missed", tt.first, tt.hello, b, tt.wantMiss)
			}
			if b2 := c.addBatch(&probev1.RecordBatch{Seq: tt.first + 2, Last: true}); b2.Missed != 1 {
				t.Errorf("a gap after the first batch: %d missed, want 1", b2.Missed)
			}
		})
	}
}

func ptr(v uint64) *uint64 { return &v }
