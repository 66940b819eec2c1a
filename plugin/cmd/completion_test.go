package cmd

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// runComplete runs `kubectl-netflow __complete args...` through root, as the
// shell scripts and kubectl_complete-netflow do, and returns the suggestions
// and the directive line.
func runComplete(t *testing.T, root *cobra.Command, args ...string) (suggestions []string, directive string) {
	t.Helper()
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %q: %v", args, err)
	}
	out := root.OutOrStdout().(interface{ String() string }).String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	last := lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		// Drop the descriptions that follow a tab.
		name, _, _ := strings.Cut(l, "\t")
		suggestions = append(suggestions, name)
	}
	return suggestions, last
}

func TestCompletion(t *testing.T) {
	const (
		noFile        = ":4" // ShellCompDirectiveNoFileComp
		noSpaceNoFile = ":6" // ShellCompDirectiveNoSpace | ShellCompDirectiveNoFileComp
		fileExt       = ":8" // ShellCompDirectiveFilterFileExt
		compError     = ":1" // ShellCompDirectiveError
	)
	tests := []struct {
		name          string
		args          []string
		want          []string // exactly these, in order; nil skips the check
		contains      []string
		excludes      []string
		wantDirective string
	}{
		{
			name:          "commands",
			args:          []string{""},
			contains:      []string{"completion", "fields", "top", "version"},
			wantDirective: noFile,
		},
		{
			name:          "sort",
			args:          []string{"top", "--sort", ""},
			want:          []string{"total", "tx", "rx"},
			wantDirective: noFile,
		},
		{
			name:          "receive-hook",
			args:          []string{"flows", "--receive-hook", ""},
			want:          []string{"sampled", "always", "off"},
			wantDirective: noFile,
		},
		{
			name:          "top output",
			args:          []string{"top", "-o", ""},
			want:          []string{"table", "wide", "json", "yaml"},
			wantDirective: noFile,
		},
		{
			name:          "group-by first element",
			args:          []string{"top", "--group-by", "dst_workload_k"},
			want:          []string{"dst_workload_kind"},
			wantDirective: noSpaceNoFile,
		},
		{
			name:          "group-by last element of a list",
			args:          []string{"top", "-g", "ns,dst_n"},
			want:          []string{"ns,dst_ns", "ns,dst_node_name"},
			wantDirective: noSpaceNoFile,
		},
		{
			name:          "group-by leaves out listed and counter fields",
			args:          []string{"top", "--group-by=ns,"},
			contains:      []string{"ns,workload_name", "ns,dst_ns"},
			excludes:      []string{"ns,ns", "ns,tx_bytes"},
			wantDirective: noSpaceNoFile,
		},
		{
			name:          "filter completes the trailing identifier",
			args:          []string{"top", "--filter", `ns == "shop" && dst_n`},
			want:          []string{`ns == "shop" && dst_ns`, `ns == "shop" && dst_node_name`},
			wantDirective: noSpaceNoFile,
		},
		{
			name:          "flows completes its filter too",
			args:          []string{"flows", "--filter", `dst_workload_k`},
			want:          []string{`dst_workload_kind`},
			wantDirective: noSpaceNoFile,
		},
		{
			name:          "replay completes record files",
			args:          []string{"top", "--replay", ""},
			want:          []string{"ndjson", "gz", "json"},
			wantDirective: fileExt,
		},
		{
			name:          "completion shells",
			args:          []string{"completion", ""},
			want:          []string{"bash", "zsh", "fish", "powershell"},
			wantDirective: noFile,
		},
		{
			name:          "fields output",
			args:          []string{"fields", "-o", ""},
			want:          outputFormats["fields"],
			wantDirective: noFile,
		},
		{
			name:          "version output",
			args:          []string{"version", "--output", ""},
			want:          outputFormats["version"],
			wantDirective: noFile,
		},
		{
			name:          "context from the kubeconfig",
			args:          []string{"--kubeconfig", "testdata/kubeconfig", "version", "--context", "s"},
			want:          []string{"staging", "staging-admin"},
			wantDirective: noFile,
		},
		{
			name:          "cluster from the kubeconfig",
			args:          []string{"--kubeconfig", "testdata/kubeconfig", "top", "--cluster", ""},
			want:          []string{"prod", "staging"},
			wantDirective: noFile,
		},
		{
			name:          "unreadable kubeconfig is an error, not a hang",
			args:          []string{"--kubeconfig", "testdata/missing", "top", "--user", ""},
			wantDirective: compError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			got, directive := runComplete(t, NewCmdNetflow(streams), tt.args...)
			if tt.want != nil && !slices.Equal(got, tt.want) {
				t.Errorf("suggestions = %q, want %q", got, tt.want)
			}
			for _, w := range tt.contains {
				if !slices.Contains(got, w) {
					t.Errorf("suggestions %q lack %q", got, w)
				}
			}
			for _, w := range tt.excludes {
				if slices.Contains(got, w) {
					t.Errorf("suggestions %q contain %q", got, w)
				}
			}
			if directive != tt.wantDirective {
				t.Errorf("directive = %s, want %s", directive, tt.wantDirective)
			}
		})
	}
}

// TestCompletionOutputFormatsAreAccepted keeps the hand-written -o lists in
// step with what the commands accept.
func TestCompletionOutputFormatsAreAccepted(t *testing.T) {
	for cmdName, formats := range outputFormats {
		for _, f := range formats {
			t.Run(cmdName+" -o "+f, func(t *testing.T) {
				streams, _, _, _ := genericiooptions.NewTestIOStreams()
				root := NewCmdNetflow(streams)
				root.SetArgs([]string{cmdName, "-o", f})
				if err := root.Execute(); err != nil {
					t.Fatalf("%s -o %s: %v", cmdName, f, err)
				}
			})
		}
	}
}

// TestCompletionNodes completes --node and namespaces from a fake API server,
// reached through the kube flags on the command line. The node flag belongs to live
// collection, so the test gives a stand-in top command one.
func TestCompletionNodes(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/nodes":
			_, _ = w.Write([]byte(`{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[
				{"metadata":{"name":"worker-a"}},{"metadata":{"name":"worker-b"}},{"metadata":{"name":"control-plane"}}]}`))
		case "/api/v1/namespaces":
			_, _ = w.Write([]byte(`{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[
				{"metadata":{"name":"default"}},{"metadata":{"name":"netflow"}},{"metadata":{"name":"kube-system"}}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()

	newRoot := func() *cobra.Command {
		streams, _, _, _ := genericiooptions.NewTestIOStreams()
		configFlags := genericclioptions.NewConfigFlags(false)
		root := &cobra.Command{Use: "kubectl-netflow"}
		configFlags.AddFlags(root.PersistentFlags())
		root.SetOut(streams.Out)
		root.SetErr(streams.ErrOut)
		top := &cobra.Command{Use: "top", Run: func(*cobra.Command, []string) {}}
		top.Flags().StringSlice("node", nil, "Nodes to probe.")
		root.AddCommand(top)
		registerCompletions(root, configFlags)
		return root
	}
	server := []string{"--kubeconfig", "testdata/kubeconfig", "--server", api.URL}

	tests := []struct {
		name       string
		toComplete string
		want       []string
	}{
		{"all", "", []string{"worker-a", "worker-b", "control-plane"}},
		{"prefix", "work", []string{"worker-a", "worker-b"}},
		{"after a comma, without the listed node", "worker-a,", []string{"worker-a,worker-b", "worker-a,control-plane"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(slices.Clone(server), "top", "--node", tt.toComplete)
			got, directive := runComplete(t, newRoot(), args...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("suggestions = %q, want %q", got, tt.want)
			}
			if directive != ":6" {
				t.Errorf("directive = %s, want :6", directive)
			}
		})
	}

	t.Run("namespace", func(t *testing.T) {
		got, directive := runComplete(t, newRoot(), append(slices.Clone(server), "top", "-n", "ne")...)
		if !slices.Equal(got, []string{"netflow"}) || directive != ":4" {
			t.Errorf("suggestions = %q %s, want [netflow] :4", got, directive)
		}
	})

	t.Run("the live top of this build", func(t *testing.T) {
		streams, _, _, _ := genericiooptions.NewTestIOStreams()
		root := NewCmdNetflow(streams)
		top, _, err := root.Find([]string{"top"})
		if err != nil {
			t.Fatal(err)
		}
		if top.Flags().Lookup("node") == nil {
			t.Skip("top has no --node flag in this build")
		}
		got, _ := runComplete(t, root, append(slices.Clone(server), "top", "--node", "")...)
		if !slices.Equal(got, []string{"worker-a", "worker-b", "control-plane"}) {
			t.Errorf("--node suggestions = %q", got)
		}
		if top.Flags().Lookup("probe-namespace") == nil {
			return
		}
		streams, _, _, _ = genericiooptions.NewTestIOStreams()
		got, _ = runComplete(t, NewCmdNetflow(streams), append(slices.Clone(server), "top", "--probe-namespace", "kube")...)
		if !slices.Equal(got, []string{"kube-system"}) {
			t.Errorf("--probe-namespace suggestions = %q", got)
		}
	})
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_kubectl-netflow",
		"zsh":        "#compdef kubectl-netflow",
		"fish":       "complete -c kubectl-netflow",
		"powershell": "Register-ArgumentCompleter",
	} {
		t.Run(shell, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			root := NewCmdNetflow(streams)
			root.SetArgs([]string{"completion", shell})
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), marker) {
				t.Errorf("the %s script lacks %q", shell, marker)
			}
		})
	}
	t.Run("unknown shell", func(t *testing.T) {
		streams, _, _, _ := genericiooptions.NewTestIOStreams()
		root := NewCmdNetflow(streams)
		root.SetArgs([]string{"completion", "tcsh"})
		if err := root.Execute(); err == nil {
			t.Fatal("completion tcsh succeeded")
		}
	})
}
