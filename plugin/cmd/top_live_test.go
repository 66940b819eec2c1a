package cmd

import (
	"context"
	"slices"
	"testing"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/probes"
)

// batches is a source of fixed batches.
type batches []flow.Batch

func (bs batches) Stream(_ context.Context, fn func(*flow.Batch) error) error {
	for i := range bs {
		if err := fn(&bs[i]); err != nil {
			return err
		}
	}
	return nil
}

func TestSkipPodsLeavesOutTheSessionsProbes(t *testing.T) {
	st := &flow.Status{Live: true}
	src := &skipPods{ns: "netflow", prefix: probes.SessionPodPrefix("ab12cd"), src: batches{
		{Records: []flow.Record{
			{NS: "netflow", PodName: "netflow-probe-ab12cd-node-a", TxBytes: 1},
			{NS: "shop", PodName: "web-1", TxBytes: 2},
			{NS: "netflow", PodName: "netflow-probe-zz99yy-node-a", TxBytes: 3}, // another session's
			{NS: "other", PodName: "netflow-probe-ab12cd-node-a", TxBytes: 4},   // not in the probe namespace
		}, Status: st},
		{Records: []flow.Record{{NS: "shop", PodName: "web-1", TxBytes: 5}}},
	}}
	var got []int64
	var status *flow.Status
	err := src.Stream(context.Background(), func(b *flow.Batch) error {
		for _, r := range b.Records {
			got = append(got, r.TxBytes)
		}
		if b.Status != nil {
			status = b.Status
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("records kept %v, want %v", got, want)
	}
	if status != st {
		t.Error("the status was lost with the skipped records")
	}
}
