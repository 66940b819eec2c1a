// Package servertest provides a fake probe.Source and a probe server on
// loopback for tests of the probe protocol's clients, without a kernel.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server"
)

// Source is a fake probe.Source. Its n-th Collect (from 1) returns
// Records(n) records made by Record, and Stats with Flows set.
type Source struct {
	// Records returns how many records interval n has; nil means 2.
	Records func(n int) int
	// Err returns the error of interval n, if any; nil means none.
	Err func(n int) error
	// RecordsWithErr makes an interval with an error return its records
	// too, as a Source whose read failed halfway does.
	RecordsWithErr bool
	// Hooks is what HookSet returns.
	Hooks string
	// MapCapacity is reported in the stats.
	MapCapacity int

	mu     sync.Mutex
	calls  int
	closes int
	closed chan struct{}
	once   sync.Once
}

// Record returns record i of interval n: PID is n and Port is i, so a test
// can tell where a record came from and in which order.
func Record(n, i int) flow.Record {
	return flow.Record{
		Protocol: flow.ProtocolTCP, Process: "curl", PID: int64(n),
		Addr: "10.0.0.1", Port: int64(i), DstAddr: "10.0.0.2", DstPort: 443,
		ContainerID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		TxBytes:     int64(100 * i), RxBytes: 1000, TxPackets: 2, RxPackets: 3,
	}
}

func (s *Source) init() { s.once.Do(func() { s.closed = make(chan struct{}) }) }

// Collect implements probe.Source.
func (s *Source) Collect(ctx context.Context) ([]flow.Record, probe.Stats, error) {
	s.init()
	s.mu.Lock()
	s.calls++
	n := s.calls
	closes := s.closes
	s.mu.Unlock()
	if closes > 0 {
		return nil, probe.Stats{}, errors.New("collect after close")
	}
	var err error
	if s.Err != nil {
		if err = s.Err(n); err != nil && !s.RecordsWithErr {
			return nil, probe.Stats{}, err
		}
	}
	count := 2
	if s.Records != nil {
		count = s.Records(n)
	}
	recs := make([]flow.Record, count)
	ts := time.Now()
	for i := range recs {
		recs[i] = Record(n, i)
		recs[i].TS = ts
	}
	return recs, probe.Stats{
		Flows: count, MapEntries: count, MapCapacity: s.MapCapacity,
		LostFlows: uint64(n), RingDrops: 7,
	}, err
}

// HookSet implements probe.Source.
func (s *Source) HookSet() string { return s.Hooks }

// Close implements probe.Source.
func (s *Source) Close() error {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	if s.closes == 1 {
		close(s.closed)
	}
	return nil
}

// Calls returns how often Collect was called.
func (s *Source) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Closes returns how often Close was called.
func (s *Source) Closes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

// Closed is closed when Close is first called.
func (s *Source) Closed() <-chan struct{} {
	s.init()
	return s.closed
}

// Server is a probe server running on loopback for one test.
type Server struct {
	*server.Server
	// Addr is where clients dial.
	Addr string
	// Stop cancels Serve.
	Stop context.CancelFunc

	done chan struct{}
	err  error
}

// Start runs a server for src on a free loopback port until the test ends.
func Start(t testing.TB, src probe.Source, cfg server.Config) *Server {
	t.Helper()
	srv, err := server.New(src, cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &Server{Server: srv, Addr: lis.Addr().String(), Stop: cancel, done: make(chan struct{})}
	go func() {
		out.err = srv.Serve(ctx, lis)
		close(out.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-out.done:
		case <-time.After(10 * time.Second):
			t.Errorf("server did not stop within 10s")
		}
	})
	return out
}

// RawClient returns a gRPC client of the server's protocol, without the
// probe client's handshake, and a context that ends with the test or after
// 10 s, for tests of what the server does with unusual requests.
func (s *Server) RawClient(t testing.TB) (probev1.ProbeClient, context.Context) {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(func() {
		cancel()
		cc.Close()
	})
	return probev1.NewProbeClient(cc), ctx
}

// Wait waits at most d for Serve to return and returns its error.
func (s *Server) Wait(d time.Duration) error {
	select {
	case <-s.done:
		return s.err
	case <-time.After(d):
		return fmt.Errorf("server still running after %v", d)
	}
}

// Exited reports whether Serve has returned.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
