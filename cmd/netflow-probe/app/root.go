// Package app holds the netflow-probe commands: it turns flags into the
// configs of the probe's packages and runs them.
package app

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-netflow/kubectl-netflow/internal/version"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// IOStreams are where a command writes. The probe keeps to the standard
// library here so its image stays small.
type IOStreams struct {
	Out    io.Writer
	ErrOut io.Writer
}

// SourceConfig configures the node's flow source.
type SourceConfig struct {
	// MaxFlows bounds the kernel's flow map.
	MaxFlows int
	// SkipHookSets names hook sets not to try.
	SkipHookSets []string
	// ReceiveHook says when the socket layer's receive hook runs.
	ReceiveHook probe.ReceiveHook
	// Logf receives the source's diagnostics, such as hook sets that failed
	// to load.
	Logf func(format string, args ...any)
}

// NewSourceFunc makes the flow source; tests pass a fake.
type NewSourceFunc func(SourceConfig) (probe.Source, error)

// DefaultMaxFlows is the default size of the kernel's flow map.
const DefaultMaxFlows = 65536

// NewCmdProbe returns the netflow-probe command with its subcommands.
func NewCmdProbe(streams IOStreams) *cobra.Command {
	return newCmdProbe(streams, newSource)
}

func newCmdProbe(streams IOStreams, src NewSourceFunc) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "netflow-probe",
		Short: "Collect the node's flows with eBPF and stream them to kubectl netflow",
		Long: `netflow-probe counts the bytes and packets of every TCP and UDP flow of the node,
per process and container, and streams them to kubectl netflow over a port-forward.
kubectl netflow starts it; run "netflow-probe dump" as root for a quick look without a cluster.`,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
	}
	cmd.AddCommand(
		NewCmdServe(streams, src),
		NewCmdDump(streams, src),
		NewCmdVersion(streams),
	)
	return cmd
}

// sourceFlags are the flags of the flow source, shared by serve and dump.
type sourceFlags struct {
	maxFlows     int
	skipHookSets []string
	nodeName     string
	receiveHook  string
}

func newSourceFlags() sourceFlags {
	return sourceFlags{maxFlows: DefaultMaxFlows, nodeName: os.Getenv("NODE_NAME"), receiveHook: string(probe.ReceiveHookSampled)}
}

func (f *sourceFlags) addFlags(fs *pflag.FlagSet) {
	fs.IntVar(&f.maxFlows, "max-flows", f.maxFlows, "Size of the kernel's flow map: flows beyond it in one interval are counted as lost.")
	fs.StringSliceVar(&f.skipHookSets, "skip-hook-sets", f.skipHookSets, "Kernel hook sets not to try, comma separated; the next set that loads is used.")
	fs.StringVar(&f.nodeName, "node-name", f.nodeName, "Node name set on every record (default $NODE_NAME, from the downward API).")
	fs.StringVar(&f.receiveHook, "receive-hook", f.receiveHook, probe.ReceiveHookUsage)
}

func (f *sourceFlags) validate() error {
	if f.maxFlows <= 0 {
		return fmt.Errorf("--max-flows must be positive, got %d", f.maxFlows)
	}
	for _, s := range f.skipHookSets {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("--skip-hook-sets has an empty name")
		}
	}
	if _, err := probe.ParseReceiveHook(f.receiveHook); err != nil {
		return fmt.Errorf("--receive-hook: %w", err)
	}
	return nil
}

func (f *sourceFlags) config(log *slog.Logger) SourceConfig {
	return SourceConfig{
		MaxFlows:     f.maxFlows,
		SkipHookSets: f.skipHookSets,
		ReceiveHook:  probe.ReceiveHook(f.receiveHook),
		Logf:         func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	}
}

func positive(flag string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--%s must be positive, got %v", flag, d)
	}
	return nil
}

// NewCmdVersion returns the version command.
func NewCmdVersion(streams IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the probe's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(streams.Out, "netflow-probe %s (commit %s)\n", version.Version, version.Commit)
			return err
		},
	}
}
