package probes

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Selection says which nodes get a probe.
type Selection struct {
	// Names lists nodes by name; empty means every node that matches
	// LabelSelector.
	Names []string
	// LabelSelector selects nodes by label (kubectl's -l syntax).
	LabelSelector string
	// MaxNodes caps how many nodes a run may probe; 0 means no cap.
	MaxNodes int
}

// DefaultMaxNodes is the default cap on probed nodes: a probe per node is
// cheap, but a hundred port-forwards through one API server are not free.
const DefaultMaxNodes = 50

// Node is a selected node.
type Node struct {
	Name string
	Zone string
	// NotReady holds why the node cannot run a probe now, if it cannot.
	NotReady string
}

// SelectNodes resolves sel against the cluster. Only Linux nodes are
// probed. A named node that does not exist, a selector that matches nothing
// and more nodes than MaxNodes are errors that say what to do.
func SelectNodes(ctx context.Context, client kubernetes.Interface, sel Selection) ([]Node, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel.LabelSelector})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", Explain(err, "list", "", "nodes", ""))
	}
	byName := make(map[string]*corev1.Node, len(list.Items))
	var all []string
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
		all = append(all, list.Items[i].Name)
	}
	sort.Strings(all)

	var picked []*corev1.Node
	if len(sel.Names) > 0 {
		seen := map[string]bool{}
		for _, name := range sel.Names {
			name = strings.TrimSpace(name)
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			n, ok := byName[name]
			if !ok {
				what := "no node"
				if sel.LabelSelector != "" {
					what = fmt.Sprintf("no node matching %q", sel.LabelSelector)
				}
				return nil, fmt.Errorf("--node: %s is named %q%s; nodes: %s", what, name, didYouMean(name, all), strings.Join(all, ", "))
			}
			picked = append(picked, n)
		}
	} else {
		for _, name := range all {
			if os := byName[name].Labels[corev1.LabelOSStable]; os == "" || os == "linux" {
				picked = append(picked, byName[name])
			}
		}
		if len(picked) == 0 {
			if sel.LabelSelector != "" {
				return nil, fmt.Errorf("--node-selector: no Linux node matches %q", sel.LabelSelector)
			}
			return nil, fmt.Errorf("the cluster has no Linux node")
		}
	}
	if sel.MaxNodes > 0 && len(picked) > sel.MaxNodes {
		return nil, fmt.Errorf("%d nodes selected, more than --max-nodes=%d: pick fewer with --node or -l/--node-selector, or raise the cap with --max-nodes=%d",
			len(picked), sel.MaxNodes, len(picked))
	}
	out := make([]Node, 0, len(picked))
	for _, n := range picked {
		node := Node{Name: n.Name, Zone: n.Labels[corev1.LabelTopologyZone]}
		if os := n.Labels[corev1.LabelOSStable]; os != "" && os != "linux" {
			node.NotReady = fmt.Sprintf("runs %s; the probe needs Linux", os)
		} else if reason := notReady(n); reason != "" {
			node.NotReady = reason
		}
		out = append(out, node)
	}
	return out, nil
}

func notReady(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			msg := "node is NotReady"
			if c.Reason != "" {
				msg += " (" + c.Reason + ")"
			}
			return msg
		}
	}
	return ""
}

func didYouMean(name string, candidates []string) string {
	best, bestD := "", len(name)/2+1
	for _, c := range candidates {
		if d := distance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
