package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/output"
)

// slowStart is a live source whose probes take a while to start, then
// stream one record every tick until ctx ends.
type slowStart struct {
	startup, tick time.Duration
	sent          int
}

func (s *slowStart) Stream(ctx context.Context, fn func(*flow.Batch) error) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(s.startup):
	}
	if err := fn(&flow.Batch{Status: &flow.Status{Live: true, NodesAsked: []string{"n1"}, NodesStreaming: []string{"n1"}}}); err != nil {
		return err
	}
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sent++
			if err := fn(&flow.Batch{Records: []flow.Record{{NS: "a", TxBytes: 100}}}); err != nil {
				return err
			}
		}
	}
}

// TestTopDurationCountsCollection checks that --duration starts when the
// first probe streams: a start-up longer than the duration must not leave
// the result empty.
func TestTopDurationCountsCollection(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewTopOptions(genericclioptions.NewConfigFlags(false), streams)
	o.Duration = 300 * time.Millisecond
	var err error
	if o.groupBy, err = flow.ParseFields([]string{"ns"}); err != nil {
		t.Fatal(err)
	}
	if o.format, err = output.ParseFormat("json"); err != nil {
		t.Fatal(err)
	}
	if o.sortKey, err = query.ParseSortKey("total"); err != nil {
		t.Fatal(err)
	}
	src := &slowStart{startup: 600 * time.Millisecond, tick: 20 * time.Millisecond}
	if err := o.collect(context.Background(), src); err != nil {
		t.Fatalf("collect: %v", err)
	}
	var groups []struct {
		NS      string `json:"ns"`
		TxBytes uint64 `json:"tx_bytes"`
	}
	if err := json.Unmarshal(out.Bytes(), &groups); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(groups) != 1 || groups[0].TxBytes == 0 {
		t.Fatalf("collected nothing after a start-up longer than --duration: %s", out)
	}
	if want := uint64(src.sent * 100); groups[0].TxBytes != want {
		t.Errorf("tx_bytes = %d, want %d (every record streamed before the end)", groups[0].TxBytes, want)
	}
}

// TestFlowsDurationCountsCollection checks the same for flows: every
// record streamed after the probes started is written, and the end is the
// duration's.
func TestFlowsDurationCountsCollection(t *testing.T) {
	src := &slowStart{startup: 600 * time.Millisecond, tick: 20 * time.Millisecond}
	timer, ctx, stop := withDuration(context.Background(), 300*time.Millisecond, false)
	defer stop()
	var buf bytes.Buffer
	if err := streamFlows(ctx, src, nil, flow.NewWriter(&buf), timer.observe); err != nil {
		t.Fatalf("streamFlows: %v", err)
	}
	if !timer.done() {
		t.Error("the stream ended before the duration did")
	}
	if n := strings.Count(buf.String(), "\n"); n == 0 || n != src.sent {
		t.Errorf("wrote %d records, streamed %d", n, src.sent)
	}
}
