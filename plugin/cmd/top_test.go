package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// run executes the plugin's root command with args, as kubectl would.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	streams, in, out, errOut := genericiooptions.NewTestIOStreams()
	in.WriteString(stdin)
	cmd := NewCmdNetflow(streams)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

const sample = `{"ts":"2026-11-25T12:00:01Z","protocol":"tcp","process":"ruby","ns":"gitlab","pod_name":"runner-1","zone":"a","workload_name":"runner","workload_kind":"Deployment","dst_addr":"203.0.113.5","dst_port":443,"dst_domain":"api.github.com","dst_workload_kind":"internet","tx_bytes":1000,"rx_bytes":50000,"tx_packets":10,"rx_packets":40}
{"ts":"2026-11-25T12:00:01Z","protocol":"tcp","process":"ruby","ns":"gitlab","pod_name":"web-1","zone":"a","workload_name":"web","workload_kind":"Deployment","dst_ns":"gitlab","dst_zone":"b","dst_workload_name":"postgres","dst_workload_kind":"StatefulSet","dst_port":5432,"tx_bytes":7000,"rx_bytes":3000,"tx_packets":20,"rx_packets":20}
{"ts":"2026-11-25T12:00:02Z","protocol":"tcp","process":"ruby","ns":"gitlab","pod_name":"runner-1","zone":"a","workload_name":"runner","workload_kind":"Deployment","dst_addr":"203.0.113.5","dst_port":443,"dst_domain":"api.github.com","dst_workload_kind":"internet","tx_bytes":2000,"rx_bytes":70000,"tx_packets":10,"rx_packets":60}
{"ts":"2026-11-25T12:00:02Z","protocol":"udp","process":"prometheus","ns":"metrics","pod_name":"prom-0","zone":"b","workload_name":"prom","workload_kind":"StatefulSet","dst_ns":"kube-system","dst_zone":"b","dst_workload_name":"coredns","dst_workload_kind":"Deployment","dst_port":53,"tx_bytes":300,"rx_bytes":600,"tx_packets":3,"rx_packets":3}
`

func TestTopReplaySeedQuestions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.ndjson")
	os.WriteFile(path, []byte(sample), 0o600)
	tests := []struct {
		name string
		args []string
		want []map[string]any
	}{
		{"internet egress of gitlab by pod and domain",
			[]string{"--filter", `ns == "gitlab" && dst_workload_kind == "internet"`, "-g", "pod_name,dst_domain"},
			[]map[string]any{{"pod_name": "runner-1", "dst_domain": "api.github.com", "tx_bytes": 3000.0, "rx_bytes": 120000.0}}},
		{"cross-zone by zone pair",
			[]string{"--filter", `zone != "" && dst_zone != "" && zone != dst_zone`, "-g", "zone,dst_zone"},
			[]map[string]any{{"zone": "a", "dst_zone": "b", "tx_bytes": 7000.0, "rx_bytes": 3000.0}}},
		{"by process, sorted by sent",
			[]string{"-g", "process", "--sort", "tx"},
			[]map[string]any{{"process": "ruby", "tx_bytes": 10000.0}, {"process": "prometheus", "tx_bytes": 300.0}}},
		{"by process, sorted by received, top 1",
			[]string{"-g", "process", "--sort", "rx", "--top", "1"},
			[]map[string]any{{"process": "ruby", "rx_bytes": 123000.0}}},
		{"namespace pair",
			[]string{"--filter", `ns == "metrics" && dst_ns == "kube-system"`, "-g", "ns,dst_ns,dst_port"},
			[]map[string]any{{"ns": "metrics", "dst_ns": "kube-system", "dst_port": 53.0, "tx_packets": 3.0}}},
		{"runners",
			[]string{"--filter", `ns == "gitlab" && pod_name.startsWith("runner-")`, "-g", "workload_name"},
			[]map[string]any{{"workload_name": "runner", "tx_bytes": 3000.0, "records": 2.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := run(t, "", append([]string{"top", "--replay", path, "-o", "json"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			var got []map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d groups, want %d:\n%s", len(got), len(tt.want), out)
			}
			for i, w := range tt.want {
				for k, v := range w {
					if got[i][k] != v {
						t.Errorf("group %d: %s = %v, want %v", i, k, got[i][k], v)
					}
				}
			}
		})
	}
}

func TestTopReplayStdinAndFormats(t *testing.T) {
	for _, format := range []string{"table", "wide", "yaml", "json"} {
		out, stderr, err := run(t, sample, "top", "--replay", "-", "-o", format, "-g", "ns")
		if err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, stderr)
		}
		if !strings.Contains(out, "gitlab") || !strings.Contains(out, "metrics") {
			t.Errorf("-o %s lacks the namespaces:\n%s", format, out)
		}
	}
	out, _, _ := run(t, sample, "top", "--replay", "-", "-g", "ns")
	if !strings.HasPrefix(out, "NS  ") || !strings.Contains(out, "TX/S") {
		t.Errorf("table header:\n%s", out)
	}
}

func TestTopErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	os.WriteFile(bad, []byte(sample+"{\"ns\": 12}\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed line", []string{"--replay", bad}, bad + ":5: field \"ns\": expected a string, got number"},
		{"missing file", []string{"--replay", "/nonexistent/flows"}, "opening the replay file: open /nonexistent/flows: no such file or directory"},
		{"bad filter", []string{"--replay", bad, "--filter", `ns ==`}, "--filter: invalid filter: ERROR: <input>:1:6: Syntax error"},
		{"unknown filter field", []string{"--replay", bad, "--filter", `namespace == "a"`}, `"namespace" is not a field`},
		{"non-bool filter", []string{"--replay", bad, "--filter", `ns`}, "must be a condition (bool), but it yields string"},
		{"unknown group-by", []string{"--replay", bad, "-g", "ns,zonee"}, `--group-by: unknown group-by field "zonee" (did you mean "zone"?); valid fields: protocol,`},
		{"unknown sort", []string{"--replay", bad, "--sort", "bytes"}, "--sort: unknown sort key \"bytes\"; valid keys: total, tx, rx"},
		{"unknown output", []string{"--replay", bad, "-o", "csv"}, "--output: unknown output format \"csv\"; valid formats: table, wide, json, yaml"},
		{"negative top", []string{"--replay", bad, "--top", "-1"}, "--top: must be 0 (all) or more"},
		{"unknown receive hook", []string{"--receive-hook", "never"}, `--receive-hook: unknown receive hook mode "never": want one of sampled, always, off`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(t, "", append([]string{"top", "-o", "json"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed output before failing:\n%s", out)
			}
		})
	}
}

func TestFieldsCommand(t *testing.T) {
	out, _, err := run(t, "", "fields")
	if err != nil {
		t.Fatal(err)
	}
	for i := range flow.Fields {
		if !strings.Contains(out, flow.Fields[i].Name) {
			t.Errorf("fields output lacks %s", flow.Fields[i].Name)
		}
	}
	out, _, err = run(t, "", "fields", "-o", "json")
	var fs []map[string]string
	if err != nil || json.Unmarshal([]byte(out), &fs) != nil || len(fs) != len(flow.Fields) {
		t.Fatalf("fields -o json: %v\n%s", err, out)
	}
}

// The README's field reference is generated from the field table; this
// fails when they drift. Regenerate with `make docs`.
func TestREADMEFieldReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- fields:begin -->\n", "<!-- fields:end -->"
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", strings.TrimSpace(begin), end)
	}
	if got := s[i+len(begin) : j]; got != FieldsMarkdown() {
		t.Errorf("README.md field reference is stale; run `make docs`")
	}
}

func TestVersionCommand(t *testing.T) {
	out, _, err := run(t, "", "version")
	if err != nil || !strings.Contains(out, "probe image: ghcr.io/kubectl-netflow/netflow-probe:dev") {
		t.Fatalf("version: %v\n%s", err, out)
	}
}
