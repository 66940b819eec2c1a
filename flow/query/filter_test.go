package query

import (
	"strings"
	"testing"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

var (
	gitlabRunnerToInternet = flow.Record{NS: "gitlab", PodName: "runner-abc-1", Zone: "eu-west-1a", DstWorkloadKind: "internet", DstAddr: "203.0.113.9"}
	gitlabWebToDB          = flow.Record{NS: "gitlab", PodName: "web-7f9", Zone: "eu-west-1a", DstNS: "gitlab", DstZone: "eu-west-1b", DstWorkloadKind: "StatefulSet"}
	metricsToKubeSystem    = flow.Record{NS: "metrics", PodName: "prometheus-0", Zone: "eu-west-1b", DstNS: "kube-system", DstZone: "eu-west-1b", DstWorkloadKind: "DaemonSet", TxBytes: 5000}
	kubeSystemSameZone     = flow.Record{NS: "kube-system", PodName: "coredns-1", Zone: "eu-west-1c", DstZone: "eu-west-1c", DstWorkloadKind: "node"}
	hostNoZone             = flow.Record{Process: "kubelet", DstZone: "eu-west-1a", DstWorkloadKind: "private"}
)

var allRecords = map[string]flow.Record{
	"gitlabRunnerToInternet": gitlabRunnerToInternet,
	"gitlabWebToDB":          gitlabWebToDB,
	"metricsToKubeSystem":    metricsToKubeSystem,
	"kubeSystemSameZone":     kubeSystemSameZone,
	"hostNoZone":             hostNoZone,
}

// The search examples of the product, exactly as users type them.
func TestSeedFilters(t *testing.T) {
	tests := []struct {
		expr  string
		match []string
	}{
		{`zone != "" && dst_zone != "" && zone != dst_zone`, []string{"gitlabWebToDB"}},
		{`dst_workload_kind=="internet"`, []string{"gitlabRunnerToInternet"}},
		{`ns in ["metrics", "kube-system"]`, []string{"metricsToKubeSystem", "kubeSystemSameZone"}},
		{`ns == "metrics" && dst_ns == "kube-system"`, []string{"metricsToKubeSystem"}},
		{`ns == "gitlab" && dst_workload_kind == "internet"`, []string{"gitlabRunnerToInternet"}},
		{`ns == "gitlab" && pod_name.startsWith("runner-")`, []string{"gitlabRunnerToInternet"}},
		{`tx_bytes > 1000`, []string{"metricsToKubeSystem"}},
		{`process == "kubelet"`, []string{"hostNoZone"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := CompileFilter(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, m := range tt.match {
				want[m] = true
			}
			for name, r := range allRecords {
				got, err := f.Match(&r)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got != want[name] {
					t.Errorf("%s: match = %v, want %v", name, got, want[name])
				}
			}
		})
	}
}

func TestFilterFields(t *testing.T) {
	f, err := CompileFilter(`ns == "gitlab" && pod_name.startsWith("runner-") && ns != ""`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fd := range f.Fields() {
		names = append(names, fd.Name)
	}
	if strings.Join(names, ",") != "pod_name,ns" {
		t.Errorf("fields = %v, want [pod_name ns]", names)
	}
	if f.Varies() {
		t.Error("a filter on names does not vary per interval")
	}
	if g, _ := CompileFilter("rx_bytes > 0"); !g.Varies() {
		t.Error("a filter on a counter varies per interval")
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`ns == `, []string{"Syntax error", "| ns == ", "| ......^"}},
		{`nss == "gitlab"`, []string{"undeclared reference to 'nss'", "| ^", `"nss" is not a field; closest: ns`, "kubectl netflow fields"}},
		{`dst_workload == "x"`, []string{`"dst_workload" is not a field; closest: dst_workload_name, dst_workload_kind`}},
		{`ns`, []string{"must be a condition (bool), but it yields string"}},
		{`tx_bytes + 1`, []string{"must be a condition (bool), but it yields int"}},
		{`ns == 1`, []string{"no matching overload"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := CompileFilter(tt.expr)
			if err == nil {
				t.Fatal("compiled; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFilterCostLimit(t *testing.T) {
	// Each comprehension level multiplies the work; the cost limit stops it.
	f, err := CompileFilter(`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Match(&flow.Record{}); err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("error = %v, want the cost limit", err)
	}
}

func FuzzCompileFilter(f *testing.F) {
	for _, s := range []string{`ns == "a"`, `zone != dst_zone`, `ns in ["a"]`, `pod_name.startsWith("x")`, `tx_bytes > 1 || rx_bytes < 2`, `ts > timestamp("2026-01-01T00:00:00Z")`, `(`, `"`} {
		f.Add(s)
	}
	r := gitlabRunnerToInternet
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := CompileFilter(expr)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid filter: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		// A compiled filter yields a bool or an evaluation error, never a panic.
		flt.Match(&r)
	})
}
