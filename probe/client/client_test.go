package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubectl-netflow/kubectl-netflow/internal/version"
	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
	"github.com/kubectl-netflow/kubectl-netflow/probe/client"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server/servertest"
)

// fast is a config whose timers fire quickly; the idle and lifetime limits
// stay far away unless a test sets them.
func fast() server.Config {
	return server.Config{
		Interval:      5 * time.Millisecond,
		StatsInterval: 20 * time.Millisecond,
		IdleTimeout:   time.Minute,
		MaxLifetime:   time.Hour,
		NodeName:      "node-a",
		KernelRelease: "6.1.0-test",
		BootID:        "3f1c2a9e-0000-4000-8000-000000000001",
		NodeAddrs:     []string{"10.0.0.7", "10.244.1.1"},
	}
}

func dial(t *testing.T, addr string, opts ...client.Option) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recv returns the next event, failing the test after 10s.
func recv(t *testing.T, c *client.Conn) (client.Event, error) {
	t.Helper()
	type res struct {
		ev  client.Event
		err error
	}
	got := make(chan res, 1)
	go func() {
		ev, err := c.Recv()
		got <- res{ev, err}
	}()
	select {
	case r := <-got:
		return r.ev, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return client.Event{}, nil
	}
}

func TestHello(t *testing.T) {
	tests := []struct {
		name string
		opts func(dialed *atomic.Int32) []client.Option
	}{
		{name: "tcp", opts: func(*atomic.Int32) []client.Option { return nil }},
		{name: "own dialer", opts: func(dialed *atomic.Int32) []client.Option {
			return []client.Option{client.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				dialed.Add(1)
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			})}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fast()
			cfg.Interval = time.Second
			src := &servertest.Source{Hooks: "cgroup_skb+tp_btf"}
			before := time.Now()
			srv := servertest.Start(t, src, cfg)
			var dialed atomic.Int32
			c := dial(t, srv.Addr, tt.opts(&dialed)...)
			h := c.Hello()
			want := client.Hello{
				ProtocolVersion: probev1.ProtocolVersion,
				ProbeVersion:    version.Version,
				ProbeCommit:     version.Commit,
				NodeName:        "node-a",
				KernelRelease:   "6.1.0-test",
				BootID:          cfg.BootID,
				HookSet:         "cgroup_skb+tp_btf",
				Interval:        time.Second,
				IdleTimeout:     time.Minute,
				StartTime:       h.StartTime,
				Deadline:        h.Deadline,
				NodeAddrs:       []string{"10.0.0.7", "10.244.1.1"},
			}
			if !reflect.DeepEqual(h, want) {
				t.Errorf("hello\n got %+v\nwant %+v", h, want)
			}
			if h.StartTime.Before(before) || h.Deadline.Sub(h.StartTime) != time.Hour {
				t.Errorf("start %v, deadline %v: want a start after %v and a deadline an hour later", h.StartTime, h.Deadline, before)
			}
			if strings.Contains(tt.name, "dialer") && dialed.Load() == 0 {
				t.Error("the dialer was not used")
			}
		})
	}
}

func TestBatchesArriveInOrder(t *testing.T) {
	tests := []struct {
		name      string
		records   int
		batchSize int
	}{
		{name: "small intervals", records: 3},
		{name: "empty intervals", records: 0},
		{name: "intervals split over several messages", records: 10, batchSize: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fast()
			cfg.BatchSize = tt.batchSize
			src := &servertest.Source{Records: func(int) int { return tt.records }}
			srv := servertest.Start(t, src, cfg)
			c := dial(t, srv.Addr)
			var last uint64
			for batches := 0; batches < 5; {
				ev, err := recv(t, c)
				if err != nil {
					t.Fatal(err)
				}
				b := ev.Batch
				if b == nil {
					continue
				}
				batches++
				if last != 0 && (b.Seq != last+1 || b.Missed != 0) {
					t.Errorf("batch %d (missed %d) after %d", b.Seq, b.Missed, last)
				}
				last = b.Seq
				if len(b.Records) != tt.records {
					t.Fatalf("batch %d has %d records, want %d", b.Seq, len(b.Records), tt.records)
				}
				for i, r := range b.Records {
					want := servertest.Record(int(b.Seq), i)
					want.NodeName = "node-a"
					want.TS = r.TS
					if r != want {
						t.Fatalf("batch %d record %d\n got %+v\nwant %+v", b.Seq, i, r, want)
					}
					if !r.TS.Equal(b.TS) {
						t.Errorf("record ts %v, batch ts %v", r.TS, b.TS)
					}
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	cfg := fast()
	src := &servertest.Source{
		MapCapacity: 65536,
		Err: func(n int) error {
			if n%3 == 0 {
				return errors.New("reading the flow map: boom")
			}
			return nil
		},
	}
	srv := servertest.Start(t, src, cfg)
	c := dial(t, srv.Addr)
	for {
		ev, err := recv(t, c)
		if err != nil {
			t.Fatal(err)
		}
		st := ev.Stats
		if st == nil || st.CollectErrors == 0 {
			continue
		}
		if st.MapCapacity != 65536 || st.Flows != 2 || st.RingDrops != 7 || st.LostFlows == 0 {
			t.Errorf("probe stats %+v", st.Stats)
		}
		if st.LastError != "reading the flow map: boom" || st.Clients != 1 || st.Seq == 0 || st.TS.IsZero() {
			t.Errorf("stats %+v", st)
		}
		return
	}
}

// TestRecordsBeforeAnError: an interval whose read failed halfway still
// reaches the client with what was read (those flows have left the
// kernel), and the error is counted.
func TestRecordsBeforeAnError(t *testing.T) {
	src := &servertest.Source{
		Err: func(n int) error {
			if n%2 == 0 {
				return errors.New("reading flows: halfway")
			}
			return nil
		},
		RecordsWithErr: true,
	}
	srv := servertest.Start(t, src, fast())
	c := dial(t, srv.Addr)
	sawEven, sawErrors := false, false
	for deadline := time.Now().Add(5 * time.Second); !sawEven || !sawErrors; {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: records of an interval with an error seen: %v, errors counted: %v", sawEven, sawErrors)
		}
		ev, err := recv(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if b := ev.Batch; b != nil && len(b.Records) > 0 && b.Records[0].PID%2 == 0 {
			sawEven = true
		}
		if st := ev.Stats; st != nil && st.CollectErrors > 0 {
			sawErrors = true
			if st.LastError != "reading flows: halfway" {
				t.Errorf("last error %q", st.LastError)
			}
		}
	}
}

func TestSlowClientIsToldWhatItMissed(t *testing.T) {
	const (
		big      = 40 // intervals with records
		perBatch = 2000
	)
	cfg := fast()
	cfg.Interval = time.Millisecond
	cfg.QueueLength = 2
	records := func(n int) int {
		if n <= big {
			return perBatch
		}
		return 0
	}
	// Once the client reads, intervals come every 10 ms or more: a client
	// slowed by a busy machine still catches up, so the drops end and the
	// stats can match them.
	src := &servertest.Source{Records: func(n int) int {
		if n > big+10 {
			time.Sleep(10 * time.Millisecond)
		}
		return records(n)
	}}
	srv := servertest.Start(t, src, cfg)
	c := dial(t, srv.Addr)
	// Read nothing until the big intervals are over: more than the queue
	// and the transport's buffers hold.
	for src.Calls() < big+10 {
		time.Sleep(5 * time.Millisecond)
	}
	var missed, missedRecords, lastDropped uint64
	stats := 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ev, err := recv(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if b := ev.Batch; b != nil {
			missed += b.Missed
			for seq := b.Seq - b.Missed; seq < b.Seq; seq++ {
				missedRecords += uint64(records(int(seq)))
			}
			continue
		}
		if ev.Stats != nil {
			stats++
			lastDropped = ev.Stats.DroppedBatches
		}
		// Drops show in the stats once the client has caught up.
		if st := ev.Stats; st != nil && missed > 0 && st.DroppedBatches == missed {
			if st.DroppedRecords != missedRecords {
				t.Errorf("stats say %d records dropped, the missed intervals held %d", st.DroppedRecords, missedRecords)
			}
			return
		}
	}
	t.Fatalf("the stats never matched the %d intervals the client missed: the last of %d stats said %d were dropped", missed, stats, lastDropped)
}

func TestIdleExit(t *testing.T) {
	tests := []struct {
		name   string
		client bool
	}{
		{name: "nobody ever connects"},
		{name: "after the last client leaves", client: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fast()
			cfg.IdleTimeout = 300 * time.Millisecond
			src := &servertest.Source{}
			srv := servertest.Start(t, src, cfg)
			if tt.client {
				c := dial(t, srv.Addr)
				// Connected for several idle timeouts: the probe stays.
				for i := 0; i < 3; i++ {
					time.Sleep(cfg.IdleTimeout)
					if srv.Exited() {
						t.Fatal("the probe exited while a client was connected")
					}
				}
				c.Close()
			}
			if err := srv.Wait(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if srv.Reason() != server.StopIdle || src.Closes() != 1 {
				t.Errorf("stopped for %q with %d source closes, want %q and 1", srv.Reason(), src.Closes(), server.StopIdle)
			}
		})
	}
}

func TestStopsWithGoodbye(t *testing.T) {
	tests := []struct {
		name        string
		lifetime    time.Duration
		cancel      bool
		reason      server.StopReason
		maxLifetime bool
	}{
		{name: "max lifetime", lifetime: 300 * time.Millisecond, reason: server.StopMaxLifetime, maxLifetime: true},
		{name: "terminated", cancel: true, reason: server.StopCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fast()
			if tt.lifetime != 0 {
				cfg.MaxLifetime = tt.lifetime
			}
			src := &servertest.Source{}
			srv := servertest.Start(t, src, cfg)
			c := dial(t, srv.Addr)
			if tt.cancel {
				srv.Stop()
			}
			var bye *client.Goodbye
			for {
				ev, err := recv(t, c)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if ev.Goodbye != nil {
					bye = ev.Goodbye
				}
			}
			if bye == nil || bye.MaxLifetime != tt.maxLifetime || bye.Message == "" {
				t.Errorf("goodbye %+v, want one with MaxLifetime %v", bye, tt.maxLifetime)
			}
			if err := srv.Wait(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if srv.Reason() != tt.reason || src.Closes() != 1 {
				t.Errorf("stopped for %q with %d source closes, want %q and 1", srv.Reason(), src.Closes(), tt.reason)
			}
		})
	}
}

func TestNewerProtocolIsRefused(t *testing.T) {
	srv := servertest.Start(t, &servertest.Source{}, fast())
	pc, ctx := srv.RawClient(t)
	stream, err := pc.Watch(ctx, &probev1.WatchRequest{ProtocolVersion: probev1.ProtocolVersion + 1})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("got %v, want FailedPrecondition", err)
	}
}

func TestWithToken(t *testing.T) {
	cfg := fast()
	cfg.Token = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	srv := servertest.Start(t, &servertest.Source{}, cfg)
	c := dial(t, srv.Addr, client.WithToken(cfg.Token))
	if got := c.Hello().NodeName; got != "node-a" {
		t.Errorf("hello from %q, want node-a", got)
	}
	for name, opts := range map[string][]client.Option{
		"wrong token":   {client.WithToken("0f1e")},
		"missing token": nil,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, srv.Addr, opts...)
			if err == nil {
				c.Close()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("got %v, want Unauthenticated", err)
			}
		})
	}
}

func TestDialGivesUpWithContext(t *testing.T) {
	// A port nobody listens on: Dial waits for it until ctx ends.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := client.Dial(ctx, addr); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

// BenchmarkStream measures records through server and client over loopback:
// each iteration lets the source produce one interval of records and waits
// for it to arrive.
func BenchmarkStream(b *testing.B) {
	const perInterval = 10000
	cfg := fast()
	cfg.Interval = time.Millisecond
	tokens := make(chan struct{}, 1)
	src := &servertest.Source{Records: func(int) int {
		select {
		case <-tokens:
			return perInterval
		default:
			return 0
		}
	}}
	srv := servertest.Start(b, src, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	records := 0
	for b.Loop() {
		tokens <- struct{}{}
		for {
			ev, err := c.Recv()
			if err != nil {
				b.Fatal(err)
			}
			if ev.Batch != nil && len(ev.Batch.Records) > 0 {
				records += len(ev.Batch.Records)
				break
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
