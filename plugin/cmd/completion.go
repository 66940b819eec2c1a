package cmd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/output"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// completionTimeout bounds the cluster lookups behind completions: a shell
// waiting on a slow API server is worse than no suggestions.
const completionTimeout = 5 * time.Second

// outputFormats lists the -o values of the commands whose formats are not
// exported by a package; completion_test.go checks each one is accepted.
var outputFormats = map[string][]string{
	"fields":  {"table", "json", "markdown"},
	"version": {"json"},
}

// registerCompletions adds the completion command and the completion
// functions of every flag that takes a known set of values. It looks flags up
// when it runs, so it must be called after all subcommands are added; a flag
// that does not exist in this build, or that already has a completion
// function, is left alone.
func registerCompletions(root *cobra.Command, configFlags *genericclioptions.ConfigFlags) {
	root.AddCommand(newCmdCompletion(root))
	// cobra's own completion command would be a duplicate; ours explains the
	// kubectl plugin helper as well.
	root.CompletionOptions.DisableDefaultCmd = true

	complete(root, "namespace", completeNamespaces(configFlags))
	complete(root, "context", completeKubeconfig(configFlags, kubeconfigContexts))
	complete(root, "cluster", completeKubeconfig(configFlags, kubeconfigClusters))
	complete(root, "user", completeKubeconfig(configFlags, kubeconfigUsers))

	for _, c := range root.Commands() {
		switch c.Name() {
		case "top":
			formats := make([]string, len(output.Formats))
			for i, f := range output.Formats {
				formats[i] = string(f)
			}
			complete(c, "group-by", completeList(func(context.Context) ([]string, error) {
				return flow.GroupableFieldNames(), nil
			}))
			complete(c, "sort", completeOneOf(query.SortKeyNames()...))
			complete(c, "output", completeOneOf(formats...))
			complete(c, "filter", completeFilter)
			complete(c, "replay", completeFiles("ndjson", "gz", "json"))
			complete(c, "node", completeList(nodeNames(configFlags)))
			complete(c, "probe-namespace", completeNamespaces(configFlags))
			complete(c, "receive-hook", completeOneOf(probe.ReceiveHookNames()...))
		case "flows":
			complete(c, "filter", completeFilter)
			complete(c, "node", completeList(nodeNames(configFlags)))
			complete(c, "probe-namespace", completeNamespaces(configFlags))
			complete(c, "receive-hook", completeOneOf(probe.ReceiveHookNames()...))
		default:
			if formats, ok := outputFormats[c.Name()]; ok {
				complete(c, "output", completeOneOf(formats...))
			}
		}
	}
}

// complete registers fn for the flag name of c when c has that flag and no
// completion function for it yet.
func complete(c *cobra.Command, name string, fn cobra.CompletionFunc) {
	if c.Flags().Lookup(name) == nil && c.PersistentFlags().Lookup(name) == nil {
		return
	}
	if _, ok := c.GetFlagCompletionFunc(name); ok {
		return
	}
	// Neither error RegisterFlagCompletionFunc reports (no such flag,
	// already registered) can happen after the checks above.
	_ = c.RegisterFlagCompletionFunc(name, fn)
}

// completeOneOf completes one of a fixed set of values.
func completeOneOf(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFiles completes file names with the given extensions.
func completeFiles(exts ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return exts, cobra.ShellCompDirectiveFilterFileExt
	}
}

// completeList completes the last element of a comma-separated list, such as
// --group-by ns,workload_name,dst_<TAB>, and leaves out the elements already
// listed. It adds no space, so the user can go on with a comma.
func completeList(candidates func(context.Context) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(commandContext(cmd), completionTimeout)
		defer cancel()
		values, err := candidates(ctx)
		if err != nil {
			cobra.CompDebugln(err.Error(), true)
			return nil, cobra.ShellCompDirectiveError
		}
		done, last := "", toComplete
		if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
			done, last = toComplete[:i+1], toComplete[i+1:]
		}
		listed := strings.Split(done, ",")
		var out []string
		for _, v := range values {
			if strings.HasPrefix(v, last) && !slices.Contains(listed, v) {
				out = append(out, done+v)
			}
		}
		return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFilter completes the field name being typed at the end of a CEL
// expression: --filter 'ns == "shop" && dst_<TAB>'.
func completeFilter(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	start := len(toComplete)
	for start > 0 && isIdentByte(toComplete[start-1]) {
		start--
	}
	done, last := toComplete[:start], toComplete[start:]
	var out []string
	for _, name := range flow.FieldNames() {
		if strings.HasPrefix(name, last) {
			out = append(out, done+name)
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

func isIdentByte(b byte) bool {
	return b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// nodeNames lists the nodes of the cluster the kube flags (--context,
// --kubeconfig, ...) on the command line point to.
func nodeNames(configFlags *genericclioptions.ConfigFlags) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		cs, err := clientset(configFlags)
		if err != nil {
			return nil, err
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing nodes: %w", err)
		}
		names := make([]string, len(nodes.Items))
		for i := range nodes.Items {
			names[i] = nodes.Items[i].Name
		}
		return names, nil
	}
}

// completeNamespaces completes --namespace with the namespaces of the cluster.
func completeNamespaces(configFlags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(commandContext(cmd), completionTimeout)
		defer cancel()
		cs, err := clientset(configFlags)
		if err != nil {
			cobra.CompDebugln(err.Error(), true)
			return nil, cobra.ShellCompDirectiveError
		}
		nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			cobra.CompDebugln(fmt.Sprintf("listing namespaces: %v", err), true)
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for i := range nss.Items {
			if strings.HasPrefix(nss.Items[i].Name, toComplete) {
				names = append(names, nss.Items[i].Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func clientset(configFlags *genericclioptions.ConfigFlags) (kubernetes.Interface, error) {
	cfg, err := configFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return cs, nil
}

type kubeconfigNames int

const (
	kubeconfigContexts kubeconfigNames = iota
	kubeconfigClusters
	kubeconfigUsers
)

// completeKubeconfig completes --context, --cluster and --user from the
// kubeconfig, without asking the cluster.
func completeKubeconfig(configFlags *genericclioptions.ConfigFlags, which kubeconfigNames) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		raw, err := configFlags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			cobra.CompDebugln(fmt.Sprintf("loading the kubeconfig: %v", err), true)
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		add := func(name string) {
			if strings.HasPrefix(name, toComplete) {
				names = append(names, name)
			}
		}
		switch which {
		case kubeconfigContexts:
			for name := range raw.Contexts {
				add(name)
			}
		case kubeconfigClusters:
			for name := range raw.Clusters {
				add(name)
			}
		case kubeconfigUsers:
			for name := range raw.AuthInfos {
				add(name)
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

const completionLong = `Print a shell completion script for kubectl-netflow.

kubectl netflow is a kubectl plugin, and kubectl completes plugins itself
(kubectl 1.26 or newer): it runs the helper kubectl_complete-netflow, found on
the PATH, which asks kubectl-netflow for completions. The release archives ship
that helper next to the binary; put it in a directory on your PATH, for
example krew's bin directory:

    install -m 0755 "$(dirname "$(readlink -f "$(command -v kubectl-netflow)")")/kubectl_complete-netflow" \
        "${KREW_ROOT:-$HOME/.krew}/bin/"

With kubectl's own completion loaded (kubectl completion --help), that is all
'kubectl netflow <TAB>' needs.

The scripts this command prints complete the binary when it is called as
kubectl-netflow, without kubectl in front.`

const completionExample = `  # bash (needs the bash-completion package)
  source <(kubectl netflow completion bash)

  # zsh
  kubectl netflow completion zsh > "${fpath[1]}/_kubectl-netflow"

  # fish
  kubectl netflow completion fish > ~/.config/fish/completions/kubectl-netflow.fish

  # PowerShell
  kubectl netflow completion powershell | Out-String | Invoke-Expression`

// newCmdCompletion returns the completion command. It generates its scripts
// from root, with descriptions.
func newCmdCompletion(root *cobra.Command) *cobra.Command {
	shells := []string{"bash", "zsh", "fish", "powershell"}
	return &cobra.Command{
		Use:                   "completion bash|zsh|fish|powershell",
		Short:                 "Print a shell completion script",
		Long:                  completionLong,
		Example:               completionExample,
		DisableFlagsInUseLine: true,
		ValidArgs:             shells,
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			default:
				return root.GenPowerShellCompletionWithDesc(out)
			}
		},
	}
}
