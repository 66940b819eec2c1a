package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// DumpOptions are the options of netflow-probe dump.
type DumpOptions struct {
	streams   IOStreams
	newSource NewSourceFunc
	source    sourceFlags

	Duration time.Duration
	Interval time.Duration
}

// NewDumpOptions returns the options with their defaults.
func NewDumpOptions(streams IOStreams, src NewSourceFunc) *DumpOptions {
	return &DumpOptions{
		streams:   streams,
		newSource: src,
		source:    newSourceFlags(),
		Duration:  10 * time.Second,
		Interval:  time.Second,
	}
}

// NewCmdDump returns the dump command.
func NewCmdDump(streams IOStreams, src NewSourceFunc) *cobra.Command {
	o := NewDumpOptions(streams, src)
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Print the node's flows as NDJSON for a while",
		Long: `dump loads the probe, prints every interval's flow records as NDJSON on stdout
for --duration, and a summary on stderr. Interrupting it prints what was counted so far.`,
		Example: `  netflow-probe dump --duration 10s > flows.ndjson
  kubectl netflow top --replay flows.ndjson`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// AddFlags adds the flags of dump to fs.
func (o *DumpOptions) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Duration, "duration", o.Duration, "How long to collect.")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "How often to read the counters; each read prints one record per flow.")
	o.source.addFlags(fs)
}

// Complete fills in what the flags leave open.
func (o *DumpOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags.
func (o *DumpOptions) Validate() error {
	if err := positive("duration", o.Duration); err != nil {
		return err
	}
	if err := positive("interval", o.Interval); err != nil {
		return err
	}
	return o.source.validate()
}

// Run collects for the duration and prints the records.
func (o *DumpOptions) Run(ctx context.Context) (err error) {
	src, err := o.newSource(o.source.config(slog.New(slog.NewTextHandler(o.streams.ErrOut, nil))))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("detaching the probe: %w", cerr)
		}
	}()
	w := flow.NewWriter(o.streams.Out)
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	end := time.NewTimer(o.Duration)
	defer end.Stop()

	var (
		intervals, records int
		last               probe.Stats
	)
	collect := func() error {
		// The last read happens after ctx may have ended, so it must not
		// depend on it.
		// A read that fails halfway still returns what it read before:
		// print that, then stop.
		recs, st, readErr := src.Collect(context.WithoutCancel(ctx))
		records += len(recs)
		for i := range recs {
			if o.source.nodeName != "" {
				recs[i].NodeName = o.source.nodeName
			}
			if err := w.Write(&recs[i]); err != nil {
				return fmt.Errorf("writing records: %w", err)
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
		if readErr != nil {
			return fmt.Errorf("reading flows: %w", readErr)
		}
		intervals++
		last = st
		return nil
	}
loop:
	for {
		select {
		case <-tick.C:
			if err := collect(); err != nil {
				return err
			}
		case <-end.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	// What was counted since the last tick.
	if err := collect(); err != nil {
		return err
	}
	fmt.Fprintf(o.streams.ErrOut, "hook set %s: %d records in %d intervals; flow map %d/%d, %d flows lost, %d ring buffer drops\n",
		src.HookSet(), records, intervals, last.MapEntries, last.MapCapacity, last.LostFlows, last.RingDrops)
	return nil
}
