package cmd

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

// FlowsOptions holds the flags of `kubectl netflow flows`.
type FlowsOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Filter   string
	Duration time.Duration
	live     liveOptions

	filter *query.Filter
}

// NewFlowsOptions returns FlowsOptions with defaults.
func NewFlowsOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *FlowsOptions {
	return &FlowsOptions{configFlags: configFlags, IOStreams: streams, live: newLiveOptions()}
}

const flowsExample = `  # Every flow of the cluster, one JSON object per line and interval
  kubectl netflow flows

  # Internet egress of one namespace, for a minute, into jq
  kubectl netflow flows --filter 'ns == "shop" && dst_workload_kind == "internet"' --duration 1m | jq .dst_domain

  # Flows of one node, recorded for a later 'top --replay'
  kubectl netflow flows --node worker-1 > flows.ndjson`

// NewCmdFlows returns the flows command.
func NewCmdFlows(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewFlowsOptions(configFlags, streams)
	cmd := &cobra.Command{
		Use:     "flows",
		Short:   "Stream the enriched flow records of the cluster as NDJSON",
		Long:    "Start probes on the selected nodes and write every flow record, with both ends named in Kubernetes terms, as one JSON object per line (fields: `kubectl netflow fields`). The output is what `top --replay` reads.",
		Example: flowsExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// AddFlags registers the flags of flows.
func (o *FlowsOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.Filter, "filter", "f", o.Filter, "CEL expression over the record fields; only matching records are written.")
	f.DurationVar(&o.Duration, "duration", o.Duration, "Stream for this long, then exit (default: until interrupted).")
	o.live.addFlags(f)
}

// Complete fills in what the flags imply.
func (o *FlowsOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags and compiles the filter.
func (o *FlowsOptions) Validate() error {
	if o.Duration < 0 {
		return errors.New("--duration: must be positive")
	}
	if strings.TrimSpace(o.Filter) != "" {
		var err error
		if o.filter, err = query.CompileFilter(o.Filter); err != nil {
			return fmt.Errorf("--filter: %w", err)
		}
	}
	return o.live.validate()
}

// Run streams records until ctx ends or the duration is over.
func (o *FlowsOptions) Run(ctx context.Context) error {
	// `flows | head` closes the pipe early. A Go program that writes to a
	// closed stdout dies of SIGPIPE unless it handles it, and would leave
	// its probes behind; ignored, the write fails instead and the probes
	// are removed on the way out.
	signal.Ignore(syscall.SIGPIPE)
	src, err := o.live.source(ctx, o.configFlags, o.ErrOut)
	if err != nil {
		return err
	}
	timer, ctx, stop := withDuration(ctx, o.Duration, false)
	defer stop()
	err = streamFlows(ctx, src, o.filter, flow.NewWriter(o.Out), timer.observe)
	if timer.done() && errors.Is(err, context.Canceled) {
		err = nil
	}
	if errors.Is(err, syscall.EPIPE) {
		// The reader has all it wanted.
		return nil
	}
	return err
}

// streamFlows writes the records of src that match filter (all, when nil),
// flushing after each batch so a pipe sees them at once.
func streamFlows(ctx context.Context, src flow.Source, filter *query.Filter, w *flow.Writer, observe func(*flow.Batch)) error {
	var filterErrs int
	err := src.Stream(ctx, func(b *flow.Batch) error {
		observe(b)
		for i := range b.Records {
			if filter != nil {
				ok, err := filter.Match(&b.Records[i])
				if err != nil {
					filterErrs++
				}
				if !ok {
					continue
				}
			}
			if err := w.Write(&b.Records[i]); err != nil {
				return fmt.Errorf("writing flows: %w", err)
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing flows: %w", err)
		}
		return nil
	})
	if filterErrs > 0 && err == nil {
		return fmt.Errorf("the filter failed on %d records, which were left out", filterErrs)
	}
	return err
}
