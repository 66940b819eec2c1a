package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/output"
)

// TopOptions holds the flags of `kubectl netflow top`.
type TopOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Replay      string
	ReplaySpeed float64
	Filter      string
	GroupBy     []string
	Sort        string
	Top         int
	Output      string
	Duration    time.Duration

	// live holds the flags of live collection (top_live.go); ui those of the
	// terminal UI (top_ui.go).
	live liveOptions
	ui   uiOptions

	filter  *query.Filter
	groupBy []*flow.Field
	sortKey query.SortKey
	format  output.Format
	// cost prices a group's traffic for est_cost; nil leaves it out.
	cost func(*query.Group) (float64, bool)
}

// NewTopOptions returns TopOptions with defaults.
func NewTopOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *TopOptions {
	return &TopOptions{
		configFlags: configFlags,
		IOStreams:   streams,
		GroupBy:     query.DefaultGroupBy,
		Sort:        "total",
		Output:      string(output.Table),
	}
}

const topExample = `  # Top talkers workload to workload, from a recorded file
  kubectl netflow top --replay flows.ndjson.gz

  # Cross-zone traffic, by zone pair
  kubectl netflow top --replay flows.ndjson --filter 'zone != "" && dst_zone != "" && zone != dst_zone' --group-by zone,dst_zone

  # Internet egress of one namespace, by pod and domain, as JSON
  kubectl netflow top --replay flows.ndjson --filter 'ns == "gitlab" && dst_workload_kind == "internet"' \
    --group-by pod_name,dst_domain -o json

  # Which processes send the most
  kubectl netflow top --replay - --group-by process --sort tx --top 10 < flows.ndjson`

// NewCmdTop returns the top command.
func NewCmdTop(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewTopOptions(configFlags, streams)
	cmd := &cobra.Command{
		Use:     "top",
		Short:   "Show the top flows, grouped, filtered and sorted",
		Long:    "Show the traffic of flows grouped by any fields (see `kubectl netflow fields`), filtered by a CEL expression and sorted by bytes sent, received or both.",
		Example: topExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags that do not parse get the usage from cobra. Validation
			// errors name the flag and list what is valid; the usage would
			// only bury them.
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

// AddFlags registers the flags of top.
func (o *TopOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Replay, "replay", o.Replay, "Read flow records from this NDJSON file (gzip is detected; - reads stdin) instead of the cluster.")
	f.Float64Var(&o.ReplaySpeed, "replay-speed", o.ReplaySpeed, "Pace of --replay: 1 is the recorded pace, 10 ten times faster, 0 all at once.")
	f.StringVarP(&o.Filter, "filter", "f", o.Filter, "CEL expression over the record fields; only matching records count. Example: 'ns == \"gitlab\" && dst_workload_kind == \"internet\"'.")
	f.StringSliceVarP(&o.GroupBy, "group-by", "g", o.GroupBy, "Fields to group by, comma separated.")
	f.StringVar(&o.Sort, "sort", o.Sort, "Sort groups by bytes: tx, rx or total (descending).")
	f.IntVar(&o.Top, "top", o.Top, "Print only the first N groups (0 prints all).")
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: table, wide, json or yaml.")
	f.DurationVar(&o.Duration, "duration", o.Duration, "Collect for this long, print the result and exit.")
	o.addLiveFlags(cmd)
	o.addUIFlags(cmd)
}

// Complete fills in what the flags imply.
func (o *TopOptions) Complete(_ *cobra.Command, _ []string) error {
	var groupBy []string
	for _, g := range o.GroupBy {
		groupBy = append(groupBy, strings.Split(g, ",")...)
	}
	o.GroupBy = groupBy
	return nil
}

// Validate checks the flags and compiles the filter.
func (o *TopOptions) Validate() error {
	var err error
	if o.groupBy, err = flow.ParseFields(o.GroupBy); err != nil {
		return fmt.Errorf("--group-by: %w", err)
	}
	if o.sortKey, err = query.ParseSortKey(o.Sort); err != nil {
		return fmt.Errorf("--sort: %w", err)
	}
	if o.format, err = output.ParseFormat(o.Output); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if o.Top < 0 {
		return errors.New("--top: must be 0 (all) or more")
	}
	if o.Duration < 0 {
		return errors.New("--duration: must be positive")
	}
	if strings.TrimSpace(o.Filter) != "" {
		if o.filter, err = query.CompileFilter(o.Filter); err != nil {
			return fmt.Errorf("--filter: %w", err)
		}
	}
	if o.Replay == "" {
		if err := o.validateLive(); err != nil {
			return err
		}
	}
	return o.validateUI()
}

// Run collects, groups and prints, or opens the terminal UI.
func (o *TopOptions) Run(ctx context.Context) error {
	if o.interactive() {
		return o.runUI(ctx)
	}
	src, err := o.source(ctx, o.ErrOut)
	if err != nil {
		return err
	}
	return o.collect(ctx, src)
}

// collect aggregates what src streams, until it ends or --duration has
// passed, and prints the result.
func (o *TopOptions) collect(ctx context.Context, src flow.Source) error {
	timer, ctx, stop := withDuration(ctx, o.Duration, o.Replay != "")
	defer stop()
	agg := query.NewAggregator(o.filter, o.groupBy)
	err := src.Stream(ctx, func(b *flow.Batch) error {
		timer.observe(b)
		agg.AddAll(b.Records)
		return nil
	})
	// A collection that ran for --duration ends there: that is the normal
	// end, not an error.
	if err != nil && !timer.done() {
		return err
	}
	if n, err := agg.FilterErrors(); n > 0 {
		fmt.Fprintf(o.ErrOut, "warning: the filter failed on %d records and skipped them; first error: %v\n", n, err)
	}
	groups := agg.Groups()
	query.Sort(groups, o.sortKey, false)
	if o.Top > 0 && len(groups) > o.Top {
		groups = groups[:o.Top]
	}
	return output.Print(o.Out, o.format, &output.Result{GroupBy: o.groupBy, Groups: groups, Window: agg.Window(), Cost: o.cost})
}

// source opens the replay file or the live cluster; progress (probes
// starting, streams lost) goes to progress.
func (o *TopOptions) source(ctx context.Context, progress io.Writer) (flow.Source, error) {
	if o.Replay != "" {
		return &flow.ReplaySource{Name: o.Replay, Stdin: o.In, Speed: o.ReplaySpeed}, nil
	}
	return o.liveSource(ctx, progress)
}
