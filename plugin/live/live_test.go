package live

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	"github.com/kubectl-netflow/kubectl-netflow/probe/client"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server/servertest"
)

// fakeProbes stands in for the probe pods.
type fakeProbes struct {
	fail    map[string]error
	why     func(node string) string
	deleted atomic.Int32
}

func (f *fakeProbes) Start(_ context.Context, nodes []string, _ time.Duration, progress func(string, string)) ([]string, map[string]error, error) {
	var running []string
	failed := map[string]error{}
	for _, n := range nodes {
		if err := f.fail[n]; err != nil {
			failed[n] = err
			continue
		}
		progress(n, "probe running")
		running = append(running, n)
	}
	return running, failed, nil
}

func (f *fakeProbes) Why(_ context.Context, node string) string {
	if f.why == nil {
		return ""
	}
	return f.why(node)
}

func (f *fakeProbes) Delete(time.Duration) error { f.deleted.Add(1); return nil }

// tagEnricher marks records so tests see they went through it.
type tagEnricher struct{}

func (tagEnricher) Start(context.Context, time.Duration) error { return nil }
func (tagEnricher) Enrich(r *flow.Record) bool                 { r.WorkloadKind = "Deployment"; return true }

func startProbe(t *testing.T, node, boot string, records int) *servertest.Server {
	t.Helper()
	return servertest.Start(t, &servertest.Source{Records: func(int) int { return records }, Hooks: "test"}, server.Config{
		Listen: "127.0.0.1:0", Interval: 20 * time.Millisecond, StatsInterval: 50 * time.Millisecond,
		IdleTimeout: time.Minute, MaxLifetime: time.Hour, NodeName: node, BootID: boot, KernelRelease: "6.1.0",
	})
}

func connector(addrs map[string]string) func(context.Context, string) (Stream, error) {
	return func(ctx context.Context, node string) (Stream, error) {
		return client.Dial(ctx, addrs[node])
	}
}

// collect streams src for d and returns records per node and the last status.
func collect(t *testing.T, src flow.Source, d time.Duration) (map[string]int, *flow.Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	byNode := map[string]int{}
	var last *flow.Status
	err := src.Stream(ctx, func(b *flow.Batch) error {
		for i := range b.Records {
			if b.Records[i].WorkloadKind != "Deployment" {
				t.Errorf("record not enriched: %+v", b.Records[i])
			}
			byNode[b.Records[i].NodeName]++
		}
		// The status of the last batch, after ctx ended, shows the
		// streams closing; tests look at the one before.
		if b.Status != nil && ctx.Err() == nil {
			last = b.Status
		}
		return nil
	})
	return byNode, last, err
}

func TestSharedKernelReadsOneProbe(t *testing.T) {
	a := startProbe(t, "a", "boot-1", 3)
	b := startProbe(t, "b", "boot-1", 3)
	c := startProbe(t, "c", "boot-2", 3)
	probes := &fakeProbes{}
	src := New(Config{
		Name: "test", Nodes: []string{"a", "b", "c"}, Probes: probes,
		Connect:  connector(map[string]string{"a": a.Addr, "b": b.Addr, "c": c.Addr}),
		Enricher: tagEnricher{},
	})
	byNode, st, err := collect(t, src, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The probes of a shared kernel cannot tell the node of a socket, and
	// this enricher places none: their records are on no node, and kept
	// from one probe (TestSharedKernelKeepsTheCopyOfTheRecordsNode tells
	// which). c has a kernel of its own.
	if byNode["a"] > 0 || byNode["b"] > 0 {
		t.Errorf("records put on the node of the probe of a shared kernel: %v", byNode)
	}
	if byNode[""] == 0 || byNode["c"] == 0 {
		t.Errorf("records missing: %v", byNode)
	}
	if st == nil || !st.SharedKernel || len(st.NodesStreaming) != 3 || !st.Live || st.HookSets["c"] != "test" {
		t.Errorf("status = %+v", st)
	}
	if probes.deleted.Load() != 1 {
		t.Errorf("probes deleted %d times, want 1", probes.deleted.Load())
	}
}

// probeSource streams the same flows from every probe of a shared kernel,
// as each copy of the flow looks to the probe of node: a probe translates
// a Service address only for sockets of its own node.
type probeSource struct {
	node string
	pid  int64 // marks the copies of this probe
}

func (p *probeSource) Collect(context.Context) ([]flow.Record, probe.Stats, error) {
	svc := flow.Record{Protocol: flow.ProtocolTCP, PID: p.pid, ContainerID: "cid-b", Addr: "10.244.2.5", Port: 40000,
		DstAddr: "10.96.0.20", DstPort: 80, TxBytes: 100}
	if p.node == "b" {
		svc.DstAddr, svc.DstPort, svc.DstSvcAddr, svc.DstSvcPort = "10.244.1.7", 8080, "10.96.0.20", 80
	}
	return []flow.Record{
		svc,
		{Protocol: flow.ProtocolTCP, PID: p.pid, ContainerID: "cid-a", Addr: "10.244.1.9", Port: 40001, DstAddr: "10.244.1.7", DstPort: 8080, TxBytes: 100},
		{Protocol: flow.ProtocolTCP, PID: p.pid, ContainerID: "cid-late-b", Addr: "10.244.2.6", Port: 40002, DstAddr: "10.244.1.7", DstPort: 8080, TxBytes: 100},
		{Protocol: flow.ProtocolTCP, PID: p.pid, Addr: "127.0.0.1", Port: 40003, DstAddr: "127.0.0.1", DstPort: 2379, TxBytes: 100},
	}, probe.Stats{}, nil
}
func (p *probeSource) HookSet() string { return "test" }
func (p *probeSource) Close() error    { return nil }

// nodeEnricher places containers on nodes by id; it knows cid-late-b only
// from the second try on, as happens to a pod that just started.
type nodeEnricher struct{}

func (nodeEnricher) Start(context.Context, time.Duration) error { return nil }
func (nodeEnricher) Enrich(r *flow.Record) bool {
	switch r.ContainerID {
	case "cid-a":
		r.NodeName = "a"
	case "cid-b":
		r.NodeName = "b"
	case "cid-late-b":
		if r.Process != "retried" {
			r.Process = "retried"
			return false
		}
		r.NodeName = "b"
	}
	r.WorkloadKind = "Deployment"
	return true
}

func TestSharedKernelKeepsTheCopyOfTheRecordsNode(t *testing.T) {
	addrs := map[string]string{}
	for i, n := range []string{"a", "b"} {
		srv := servertest.Start(t, &probeSource{node: n, pid: int64(i + 1)}, server.Config{
			Listen: "127.0.0.1:0", Interval: 20 * time.Millisecond, StatsInterval: 50 * time.Millisecond,
			IdleTimeout: time.Minute, MaxLifetime: time.Hour, NodeName: n, BootID: "boot-1",
		})
		addrs[n] = srv.Addr
	}
	src := New(Config{
		Name: "test", Nodes: []string{"a", "b"}, Probes: &fakeProbes{},
		Connect: connector(addrs), Enricher: nodeEnricher{}, RetryDelay: 30 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	byProbe := map[string]map[int64]int{} // container id → pid of the probe → records
	// Until both probes stream, the first one's copies are all there is;
	// records collected after the status says so were read with both.
	var shared time.Time
	err := src.Stream(ctx, func(b *flow.Batch) error {
		if shared.IsZero() && b.Status != nil && b.Status.SharedKernel {
			shared = time.Now()
		}
		for _, r := range b.Records {
			if shared.IsZero() || !r.TS.After(shared) {
				continue
			}
			if byProbe[r.ContainerID] == nil {
				byProbe[r.ContainerID] = map[int64]int{}
			}
			byProbe[r.ContainerID][r.PID]++
			if r.ContainerID == "cid-b" && (r.DstAddr != "10.244.1.7" || r.DstSvcAddr != "10.96.0.20") {
				t.Errorf("kept the untranslated copy of the Service flow: %+v", r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"cid-a": 1, "cid-b": 2, "cid-late-b": 2}
	for cid, pid := range want {
		if got := byProbe[cid]; len(got) != 1 || got[pid] == 0 {
			t.Errorf("%s: records by probe %v, want only from probe %d", cid, got, pid)
		}
	}
	if got := byProbe[""]; len(got) != 1 {
		t.Errorf("host process on no node: records by probe %v, want from one probe", got)
	}
}

func TestFailedNodesReportedOthersKeepGoing(t *testing.T) {
	a := startProbe(t, "a", "boot-a", 2)
	src := New(Config{
		Nodes: []string{"a", "b", "win"}, Unusable: map[string]string{"win": "runs windows"},
		Probes:   &fakeProbes{fail: map[string]error{"b": errors.New("ErrImagePull: cannot pull")}},
		Connect:  connector(map[string]string{"a": a.Addr}),
		Enricher: tagEnricher{},
	})
	byNode, st, err := collect(t, src, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if byNode["a"] == 0 {
		t.Error("no records from the healthy node")
	}
	if !strings.Contains(st.NodesFailed["b"], "ErrImagePull") || st.NodesFailed["win"] != "runs windows" || st.SharedKernel {
		t.Errorf("status = %+v", st)
	}
}

// TestNodeNotReadingReported: a probe that streams but fails to read its
// flows is named with its error while the failures go on, and no longer
// once a report brings no new failure.
func TestNodeNotReadingReported(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	a := servertest.Start(t, &servertest.Source{
		Err: func(int) error {
			if failing.Load() {
				return errors.New("switching flow maps: boom")
			}
			return nil
		},
		Hooks: "test",
	}, server.Config{
		Listen: "127.0.0.1:0", Interval: 10 * time.Millisecond, StatsInterval: 30 * time.Millisecond,
		IdleTimeout: time.Minute, MaxLifetime: time.Hour, NodeName: "a", BootID: "boot-a", KernelRelease: "6.1.0",
	})
	var mu sync.Mutex
	var said []string
	src := New(Config{
		Nodes: []string{"a"}, Probes: &fakeProbes{}, Connect: connector(map[string]string{"a": a.Addr}), Enricher: tagEnricher{},
		Progress: func(node, msg string) {
			mu.Lock()
			defer mu.Unlock()
			said = append(said, node+": "+msg)
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sawFailing, sawRecovered := false, false
	err := src.Stream(ctx, func(b *flow.Batch) error {
		st := b.Status
		if st == nil || ctx.Err() != nil {
			return nil
		}
		why, notReading := st.NodesNotReading["a"]
		switch {
		case !sawFailing && notReading:
			if why != "switching flow maps: boom" {
				t.Errorf("node a not reading: %q", why)
			}
			sawFailing = true
			failing.Store(false)
		case sawFailing && !notReading:
			sawRecovered = true
			cancel()
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if !sawFailing || !sawRecovered {
		t.Errorf("node a reported as not reading: %v, then reading again: %v", sawFailing, sawRecovered)
	}
	// Output without the live view learns it from the progress lines.
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(said, "a: not reading flows: switching flow maps: boom") || !slices.Contains(said, "a: reading flows again") {
		t.Errorf("progress lines %q", said)
	}
}

// TestLostNodeIsNotAlsoNotReading: a node whose probe is lost is named as
// lost only, not also as failing its reads.
func TestLostNodeIsNotAlsoNotReading(t *testing.T) {
	s := New(Config{Nodes: []string{"a"}})
	s.status.NodesFailed = map[string]string{}
	s.status.NodesNotReading = map[string]string{"a": "switching flow maps: boom"}
	s.fail("a", "stream lost, reconnecting: EOF")
	if _, ok := s.status.NodesNotReading["a"]; ok || s.status.NodesFailed["a"] == "" {
		t.Errorf("lost %q, not reading %q", s.status.NodesFailed, s.status.NodesNotReading)
	}
}

func TestNoProbeStarts(t *testing.T) {
	probes := &fakeProbes{fail: map[string]error{"a": errors.New("Unschedulable: taint")}}
	src := New(Config{Nodes: []string{"a"}, Probes: probes, Enricher: tagEnricher{}})
	_, _, err := collect(t, src, time.Second)
	if err == nil || !strings.Contains(err.Error(), "a: Unschedulable") {
		t.Fatalf("err = %v", err)
	}
	if probes.deleted.Load() != 1 {
		t.Error("probes not deleted after a failed start")
	}
}

func TestLostProbeReconnectsThenIsLost(t *testing.T) {
	a := startProbe(t, "a", "boot-a", 1)
	b := startProbe(t, "b", "boot-b", 1)
	var mu sync.Mutex
	gone := false
	var dials atomic.Int32
	probes := &fakeProbes{why: func(node string) string {
		mu.Lock()
		defer mu.Unlock()
		if node == "b" && gone {
			return "the probe exited (code 1, Error): boom"
		}
		return ""
	}}
	src := New(Config{
		Nodes: []string{"a", "b"}, Probes: probes, Enricher: tagEnricher{},
		Backoff: 20 * time.Millisecond, ConnectTimeout: 100 * time.Millisecond,
		Connect: func(ctx context.Context, node string) (Stream, error) {
			if node == "b" {
				dials.Add(1)
				return client.Dial(ctx, b.Addr)
			}
			return client.Dial(ctx, a.Addr)
		},
	})
	go func() {
		time.Sleep(300 * time.Millisecond)
		b.Stop() // the stream breaks: the source reconnects
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		gone = true // now the pod is gone for good
		mu.Unlock()
	}()
	_, st, err := collect(t, src, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if dials.Load() < 2 {
		t.Errorf("dialled b %d times, want a reconnect", dials.Load())
	}
	if !strings.Contains(st.NodesFailed["b"], "lost: the probe exited") || len(st.NodesStreaming) != 1 {
		t.Errorf("status = %+v", st)
	}
}

func TestTee(t *testing.T) {
	var buf strings.Builder
	src := Tee(&flow.ReplaySource{Name: "-", Stdin: strings.NewReader(`{"ts":"2025-01-01T00:00:00Z","protocol":"tcp","ns":"a","tx_bytes":5,"rx_bytes":0,"tx_packets":1,"rx_packets":0}` + "\n")}, &buf)
	if err := src.Stream(context.Background(), func(*flow.Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"ns":"a"`) || !strings.Contains(buf.String(), `"tx_bytes":5`) {
		t.Errorf("recorded %q", buf.String())
	}
}

// addrEnricher records the node addresses the source hands it.
type addrEnricher struct {
	tagEnricher
	mu    sync.Mutex
	addrs map[string][]string
}

func (e *addrEnricher) SetNodeAddrs(node string, addrs []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addrs[node] = addrs
}

func TestNodeAddrsReachTheEnricher(t *testing.T) {
	p := servertest.Start(t, &servertest.Source{Hooks: "test"}, server.Config{
		Listen: "127.0.0.1:0", Interval: 20 * time.Millisecond, StatsInterval: 50 * time.Millisecond,
		IdleTimeout: time.Minute, MaxLifetime: time.Hour, NodeName: "a", BootID: "boot-1",
		NodeAddrs: []string{"172.30.0.11", "10.244.1.1"},
	})
	e := &addrEnricher{addrs: map[string][]string{}}
	src := New(Config{Name: "test", Nodes: []string{"a"}, Probes: &fakeProbes{}, Connect: connector(map[string]string{"a": p.Addr}), Enricher: e})
	if _, _, err := collect(t, src, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if got := e.addrs["a"]; !slices.Equal(got, []string{"172.30.0.11", "10.244.1.1"}) {
		t.Errorf("node addresses of a = %v", got)
	}
}
