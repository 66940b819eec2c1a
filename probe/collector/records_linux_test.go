//go:build linux

package collector

import (
	"errors"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/bpf"
)

// TestRecordsKeepWhatWasRead: when the kernel read fails halfway, the
// records of the flows read before the failure come back with the error,
// since those flows have left the kernel map.
func TestRecordsKeepWhatWasRead(t *testing.T) {
	c := newUserCollector(1024)
	src := benchFlows(100)
	boom := errors.New("reading flows: boom")
	recs, entries, err := c.records(time.Now(), func(fn func([]bpf.Flow)) (int, error) {
		fn(src[:40])
		fn(src[40:60])
		return 60, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	var tx int64
	for _, r := range recs {
		tx += r.TxBytes
	}
	if len(recs) != 60 || entries != 60 || tx != 60*1000 {
		t.Errorf("%d records of %d entries with %d bytes sent, want 60 of 60 with 60000", len(recs), entries, tx)
	}
}
