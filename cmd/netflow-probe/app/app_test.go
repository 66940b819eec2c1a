package app

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server/servertest"
)

type run struct {
	src    *servertest.Source
	got    SourceConfig
	out    bytes.Buffer
	errOut bytes.Buffer
}

func (r *run) execute(args ...string) error {
	cmd := newCmdProbe(IOStreams{Out: &r.out, ErrOut: &r.errOut}, func(c SourceConfig) (probe.Source, error) {
		r.got = c
		return r.src, nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(&r.errOut)
	cmd.SetErr(&r.errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cmd.ExecuteContext(ctx)
}

func TestDump(t *testing.T) {
	t.Setenv("NODE_NAME", "node-from-env")
	tests := []struct {
		name     string
		args     []string
		nodeName string
		cfg      SourceConfig
	}{
		{
			name: "defaults", args: []string{"dump", "--duration", "50ms", "--interval", "10ms"},
			nodeName: "node-from-env", cfg: SourceConfig{MaxFlows: DefaultMaxFlows, ReceiveHook: probe.ReceiveHookSampled},
		},
		{
			name: "flags",
			args: []string{
				"dump", "--duration", "50ms", "--interval", "10ms", "--node-name", "node-b",
				"--max-flows", "1024", "--skip-hook-sets", "tp_btf,fentry", "--receive-hook", "off",
			},
			nodeName: "node-b", cfg: SourceConfig{MaxFlows: 1024, SkipHookSets: []string{"tp_btf", "fentry"}, ReceiveHook: probe.ReceiveHookOff},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{src: &servertest.Source{Hooks: "test-hooks"}}
			if err := r.execute(tt.args...); err != nil {
				t.Fatal(err)
			}
			if r.got.MaxFlows != tt.cfg.MaxFlows || strings.Join(r.got.SkipHookSets, ",") != strings.Join(tt.cfg.SkipHookSets, ",") ||
				r.got.ReceiveHook != tt.cfg.ReceiveHook {
				t.Errorf("source config %+v, want %+v", r.got, tt.cfg)
			}
			rd, err := flow.NewReader(&r.out, "stdout")
			if err != nil {
				t.Fatal(err)
			}
			var recs []flow.Record
			if err := rd.ReadBatches(context.Background(), func(b []flow.Record) error {
				recs = append(recs, b...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// Every interval, the last one after the duration included.
			calls := r.src.Calls()
			if calls < 2 || len(recs) != 2*calls {
				t.Fatalf("%d records from %d intervals, want 2 each", len(recs), calls)
			}
			for i, rec := range recs {
				want := servertest.Record(i/2+1, i%2)
				want.NodeName = tt.nodeName
				want.TS = rec.TS
				if rec != want {
					t.Fatalf("record %d\n got %+v\nwant %+v", i, rec, want)
				}
			}
			if r.src.Closes() != 1 {
				t.Errorf("source closed %d times, want 1", r.src.Closes())
			}
			if !strings.Contains(r.errOut.String(), "hook set test-hooks") {
				t.Errorf("no summary on stderr: %q", r.errOut.String())
			}
		})
	}
}

func TestDumpFailsOnCollectError(t *testing.T) {
	r := &run{src: &servertest.Source{Err: func(int) error { return errors.New("map gone") }}}
	err := r.execute("dump", "--duration", "50ms", "--interval", "10ms")
	if err == nil || !strings.Contains(err.Error(), "map gone") {
		t.Fatalf("got %v, want the collect error", err)
	}
	if r.src.Closes() != 1 {
		t.Errorf("source closed %d times, want 1", r.src.Closes())
	}
}

// TestDumpPrintsWhatWasReadBeforeAnError: a read that fails halfway still
// prints the records it read, then dump stops with the error.
func TestDumpPrintsWhatWasReadBeforeAnError(t *testing.T) {
	r := &run{src: &servertest.Source{
		Err: func(n int) error {
			if n == 2 {
				return errors.New("reading flows: halfway")
			}
			return nil
		},
		RecordsWithErr: true,
	}}
	err := r.execute("dump", "--duration", "5s", "--interval", "10ms")
	if err == nil || !strings.Contains(err.Error(), "halfway") {
		t.Fatalf("got %v, want the collect error", err)
	}
	// Two records of each of the two intervals.
	if n := strings.Count(r.out.String(), "\n"); n != 4 {
		t.Errorf("%d records printed, want 4:\n%s", n, r.out.String())
	}
}

func TestServeExitsWhenIdle(t *testing.T) {
	r := &run{src: &servertest.Source{}}
	if err := r.execute("serve", "--listen", "127.0.0.1:0", "--interval", "10ms", "--idle-timeout", "100ms"); err != nil {
		t.Fatal(err)
	}
	if r.src.Closes() != 1 {
		t.Errorf("source closed %d times, want 1", r.src.Closes())
	}
	if !strings.Contains(r.errOut.String(), "reason=idle") {
		t.Errorf("log does not say why it stopped: %q", r.errOut.String())
	}
}

func TestServePortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := &run{src: &servertest.Source{}}
	err = r.execute("serve", "--listen", taken.Addr().String())
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()+" is in use on this node") {
		t.Fatalf("got %v, want the port in use", err)
	}
	if r.got.MaxFlows != 0 {
		t.Error("the probe was loaded although it cannot listen")
	}
}

func TestServeTokenFromEnvironment(t *testing.T) {
	t.Setenv(probe.TokenEnv, "s3cret")
	if got := NewServeOptions(IOStreams{}, nil).Token; got != "s3cret" {
		t.Errorf("token %q, want the one of $%s", got, probe.TokenEnv)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "0.0.0.0:7459"}, "--listen"},
		{[]string{"serve", "--idle-timeout", "0s"}, "--idle-timeout"},
		{[]string{"serve", "--max-lifetime", "-1s"}, "--max-lifetime"},
		{[]string{"serve", "--max-flows", "0"}, "--max-flows"},
		{[]string{"serve", "--queue-length", "0"}, "--queue-length"},
		{[]string{"dump", "--duration", "0s"}, "--duration"},
		{[]string{"dump", "--interval", "0s"}, "--interval"},
		{[]string{"dump", "--receive-hook", "never"}, `--receive-hook: unknown receive hook mode "never"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := &run{src: &servertest.Source{}}
			err := r.execute(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
			if r.got.MaxFlows != 0 {
				t.Error("the source was made despite bad flags")
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := &run{}
	if err := r.execute("version"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.out.String(), "netflow-probe ") {
		t.Errorf("got %q", r.out.String())
	}
}

func TestNodeAddr(t *testing.T) {
	tests := []struct {
		ifc, cidr, want string
	}{
		{"eth0", "172.30.0.11/24", "172.30.0.11"},
		{"cni0", "10.244.1.1/24", "10.244.1.1"},
		{"eth0", "fd00:10::5/64", "fd00:10::5"},
		{"eth0", "::ffff:10.1.2.3/120", "10.1.2.3"},
		{"lo", "127.0.0.1/8", ""},
		{"lo", "::1/128", ""},
		{"eth0", "fe80::1/64", ""},
		{"kube-ipvs0", "10.96.0.1/32", ""},
		{"eth0", "not an address", ""},
	}
	for _, tt := range tests {
		got, ok := nodeAddr(tt.ifc, tt.cidr)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("nodeAddr(%q, %q) = %q, %v; want %q", tt.ifc, tt.cidr, got, ok, tt.want)
		}
	}
	for _, a := range nodeAddrs() {
		if ip := netip.MustParseAddr(a); ip.IsLoopback() {
			t.Errorf("nodeAddrs() lists loopback %s", a)
		}
	}
}
