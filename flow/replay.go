package flow

import (
	"context"
	"fmt"
	"io"
	"time"
)

// ReplaySource plays a recorded file as a Source.
type ReplaySource struct {
	Name  string
	Stdin io.Reader
	// Speed paces the replay: 1 plays at the recorded pace, 10 ten times
	// faster, 0 (or less) all at once.
	Speed float64
}

// Stream reads the file and hands its records over in order. When paced, a
// batch holds one interval (one timestamp) and the wait between batches is
// the recorded gap divided by Speed.
func (s *ReplaySource) Stream(ctx context.Context, fn func(*Batch) error) error {
	r, err := Open(s.Name, s.Stdin)
	if err != nil {
		return fmt.Errorf("opening the replay file: %w", err)
	}
	defer r.Close()
	status := &Status{Source: s.Name, Started: time.Now()}
	first := true
	emit := func(rs []Record) error {
		b := &Batch{Records: rs}
		if first {
			b.Status, first = status, false
		}
		return fn(b)
	}
	if s.Speed <= 0 {
		return r.ReadBatches(ctx, emit)
	}

	var pending []Record
	var last time.Time
	flush := func(next time.Time) error {
		if len(pending) > 0 {
			if err := emit(pending); err != nil {
				return err
			}
			pending = nil
		}
		if !last.IsZero() && next.After(last) {
			wait := time.Duration(float64(next.Sub(last)) / s.Speed)
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
		last = next
		return nil
	}
	err = r.ReadBatches(ctx, func(rs []Record) error {
		for i := range rs {
			if !rs[i].TS.Equal(last) {
				if err := flush(rs[i].TS); err != nil {
					return err
				}
			}
			pending = append(pending, rs[i])
		}
		return nil
	})
	if err != nil || len(pending) == 0 {
		return err
	}
	return emit(pending)
}
