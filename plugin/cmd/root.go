// Package cmd holds the cobra commands of kubectl-netflow. It turns flags
// into the typed configuration of the domain packages, in one place.
package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewCmdNetflow returns the root command of the kubectl netflow plugin.
func NewCmdNetflow(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	cmd := &cobra.Command{
		Use:   "kubectl-netflow",
		Short: "See who talks to whom on a Kubernetes cluster, how much, and what it costs",
		Long: `kubectl netflow counts the bytes and packets every process and container sends and
receives, per flow, on the nodes you pick, names both ends in Kubernetes terms
(pod, namespace, workload, node, zone, Service, internet) and lets you filter
with CEL, regroup and sort live.

It installs nothing: short-lived probe pods run on the selected nodes and go
away when you quit.`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl netflow",
		},
		SilenceErrors: true,
	}
	configFlags.AddFlags(cmd.PersistentFlags())
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)

	cmd.AddCommand(
		NewCmdTop(configFlags, streams),
		NewCmdFlows(configFlags, streams),
		NewCmdCleanup(configFlags, streams),
		NewCmdFields(streams),
		NewCmdVersion(streams),
	)
	registerCompletions(cmd, configFlags)
	return cmd
}
