package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-netflow/kubectl-netflow/plugin/probes"
)

// CleanupOptions holds the flags of `kubectl netflow cleanup`.
type CleanupOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	AllNamespaces bool

	namespace string
	client    kubernetes.Interface
}

// NewCleanupOptions returns CleanupOptions with defaults.
func NewCleanupOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *CleanupOptions {
	return &CleanupOptions{configFlags: configFlags, IOStreams: streams}
}

// NewCmdCleanup returns the cleanup command.
func NewCmdCleanup(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCleanupOptions(configFlags, streams)
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete probe pods left behind by a kubectl netflow that was killed",
		Long: `Delete the probe pods (label ` + probes.Selector + `) in the current namespace, or in
every namespace with --all-namespaces. Probes also exit by themselves when no client has been
connected for their idle timeout, and the cluster stops them at their --max-duration.`,
		Example: `  # Leftovers in the current namespace
  kubectl netflow cleanup

  # Leftovers anywhere
  kubectl netflow cleanup --all-namespaces`,
		Args: cobra.NoArgs,
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
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "Delete probe pods in every namespace.")
	return cmd
}

// Complete builds the client and resolves the namespace.
func (o *CleanupOptions) Complete(*cobra.Command, []string) error {
	if o.client == nil {
		cfg, err := o.configFlags.ToRESTConfig()
		if err != nil {
			return fmt.Errorf("reading the kubeconfig: %w", err)
		}
		if o.client, err = kubernetes.NewForConfig(cfg); err != nil {
			return fmt.Errorf("creating the Kubernetes client: %w", err)
		}
	}
	if !o.AllNamespaces {
		ns, _, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return fmt.Errorf("reading the current namespace: %w", err)
		}
		o.namespace = ns
	}
	return nil
}

// Validate has nothing to check.
func (o *CleanupOptions) Validate() error { return nil }

// Run deletes the leftovers and lists them.
func (o *CleanupOptions) Run(ctx context.Context) error {
	left, err := probes.Cleanup(ctx, o.client, o.namespace)
	for _, l := range left {
		fmt.Fprintf(o.Out, "pod/%s deleted (namespace %s, node %s, %s, age %s)\n", l.Name, l.Namespace, l.Node, l.Phase, l.Age.Round(time.Second))
	}
	if err == nil && len(left) == 0 {
		where := fmt.Sprintf("namespace %q", o.namespace)
		if o.AllNamespaces {
			where = "any namespace"
		}
		fmt.Fprintf(o.Out, "no probe pods in %s\n", where)
	}
	return err
}
