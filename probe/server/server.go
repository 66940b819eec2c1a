// Package server serves the flow records of a probe.Source to clients over
// the probe protocol (probe/api/v1).
//
// The server reads the source every interval whether or not a client is
// connected, so the kernel's counters never pile up, and hands each interval
// to every connected client through a bounded queue: a slow client loses its
// oldest intervals, is told how many, and never holds up collection. The
// server exits by itself when no client has been connected for an idle
// timeout and when it reaches its maximum lifetime, so a probe left behind by
// a plugin that was killed goes away on its own.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubectl-netflow/kubectl-netflow/internal/version"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
	"github.com/kubectl-netflow/kubectl-netflow/probe/wire"
)

// Defaults of Config.
const (
	DefaultListen        = "127.0.0.1:7459"
	DefaultInterval      = time.Second
	DefaultStatsInterval = 5 * time.Second
	DefaultIdleTimeout   = 30 * time.Second
	DefaultMaxLifetime   = time.Hour
	DefaultQueueLength   = 16
)

// shutdownGrace bounds how long a stopping server waits for its clients to
// take their last events before it cuts them off.
const shutdownGrace = 2 * time.Second

// Config configures a Server. Zero values take the defaults.
type Config struct {
	// Listen is the address Run listens on. Its host must be a loopback
	// address: clients reach the probe through a port-forward, never over
	// the node's network.
	Listen string
	// Interval is how often the source is read.
	Interval time.Duration
	// StatsInterval is how often clients get Stats.
	StatsInterval time.Duration
	// IdleTimeout is how long the server waits without a client, from the
	// start and from the last disconnect, before it exits.
	IdleTimeout time.Duration
	// MaxLifetime is how long the server runs at most.
	MaxLifetime time.Duration
	// NodeName is set on every record and in the Hello.
	NodeName string
	// QueueLength is how many intervals a client may fall behind before the
	// oldest are dropped.
	QueueLength int
	// BatchSize is how many records one message holds at most.
	BatchSize int
	// Token, when set, is the secret a client must send in the
	// "authorization: Bearer <token>" metadata of its stream; streams
	// without it are refused with codes.Unauthenticated. The probe listens
	// on the node's loopback, so without a token every local user of the
	// node could read the flows. Empty means no check, for a probe run by
	// hand.
	Token string
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// KernelRelease and BootID describe the node in the Hello; empty values
	// are read from /proc.
	KernelRelease string
	BootID        string
	// NodeAddrs are the addresses of the node's interfaces, for the Hello.
	NodeAddrs []string
}

// StopReason tells why a server stopped.
type StopReason string

// Stop reasons.
const (
	StopCanceled    StopReason = "canceled"
	StopIdle        StopReason = "idle"
	StopMaxLifetime StopReason = "max-lifetime"
	StopFailed      StopReason = "failed"
)

// Server serves one probe.Source. Make it with New, then call Run or Serve
// once.
type Server struct {
	probev1.UnimplementedProbeServer

	src probe.Source
	cfg Config
	log *slog.Logger

	start    time.Time
	deadline time.Time

	mu       sync.Mutex
	clients  map[*queue]struct{}
	stopping bool
	changed  chan struct{}
	seq      uint64
	errors   uint64
	lastErr  string
	reason   StopReason
}

// New returns a server for src. The server owns src from then on: it closes
// it when it stops, and also when New fails.
func New(src probe.Source, cfg Config) (*Server, error) {
	if err := cfg.complete(); err != nil {
		return nil, errors.Join(err, src.Close())
	}
	return &Server{
		src:     src,
		cfg:     cfg,
		log:     cfg.Logger,
		clients: make(map[*queue]struct{}),
		changed: make(chan struct{}, 1),
	}, nil
}

func (c *Config) complete() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if err := CheckListen(c.Listen); err != nil {
		return err
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
		nam string
	}{
		{&c.Interval, DefaultInterval, "interval"},
		{&c.StatsInterval, DefaultStatsInterval, "stats interval"},
		{&c.IdleTimeout, DefaultIdleTimeout, "idle timeout"},
		{&c.MaxLifetime, DefaultMaxLifetime, "max lifetime"},
	} {
		if *d.v < 0 {
			return fmt.Errorf("%s %v is negative", d.nam, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.QueueLength <= 0 {
		c.QueueLength = DefaultQueueLength
	}
	if c.BatchSize <= 0 {
		c.BatchSize = wire.DefaultBatchSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.KernelRelease == "" {
		c.KernelRelease = readProc("/proc/sys/kernel/osrelease")
	}
	if c.BootID == "" {
		c.BootID = readProc("/proc/sys/kernel/random/boot_id")
	}
	return nil
}

// CheckListen returns an error unless addr is host:port with a loopback IP
// host.
func CheckListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: the probe listens on a loopback address only, such as 127.0.0.1:7459", addr)
	}
	return nil
}

func readProc(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Run listens on the configured address and serves until Serve returns.
func (s *Server) Run(ctx context.Context) error {
	lis, err := Listen(s.cfg.Listen)
	if err != nil {
		return errors.Join(err, s.closeSource())
	}
	return s.Serve(ctx, lis)
}

// Listen listens on addr. The probe shares the node's network namespace, so
// its port may be taken by another program of the node or by the probe of
// another session; the error then says so in words the plugin shows as the
// node's failure.
func Listen(addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s is in use on this node (another program, or the probe of another kubectl netflow session, listens there): "+
			"run kubectl netflow again, it picks another port: %w", addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return lis, nil
}

// Serve serves clients on lis and reads the source every interval until ctx
// is done, no client has been connected for the idle timeout, or the maximum
// lifetime is reached. Then it says goodbye to its clients, closes lis and
// the source, and returns nil; it returns an error only when serving or
// closing the source failed. Reason tells why it stopped.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	s.start = time.Now()
	s.deadline = s.start.Add(s.cfg.MaxLifetime)
	s.log.Info("probe serving", "addr", lis.Addr().String(), "node", s.cfg.NodeName,
		"hook_set", s.src.HookSet(), "interval", s.cfg.Interval,
		"idle_timeout", s.cfg.IdleTimeout, "deadline", s.deadline.Format(time.RFC3339))

	gs := grpc.NewServer(
		// Find clients that vanished without closing, so the idle timeout
		// starts for them too.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 20 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.StreamInterceptor(s.authorize),
	)
	probev1.RegisterProbeServer(gs, s)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

	reason, err := s.loop(ctx, served)
	s.mu.Lock()
	s.reason = reason
	s.mu.Unlock()
	s.log.Info("probe stopping", "reason", string(reason))

	s.stop(gs, reason)
	if cerr := s.closeSource(); cerr != nil {
		return errors.Join(err, cerr)
	}
	s.log.Info("probe stopped, kernel hooks detached")
	return err
}

// Reason tells why Serve returned; it is empty while it runs.
func (s *Server) Reason() StopReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

func (s *Server) closeSource() error {
	if err := s.src.Close(); err != nil {
		return fmt.Errorf("detaching the probe: %w", err)
	}
	return nil
}

// loop collects every interval and watches the idle and lifetime limits.
func (s *Server) loop(ctx context.Context, served <-chan error) (StopReason, error) {
	collect := time.NewTicker(s.cfg.Interval)
	defer collect.Stop()
	stats := time.NewTicker(s.cfg.StatsInterval)
	defer stats.Stop()
	lifetime := time.NewTimer(s.cfg.MaxLifetime)
	defer lifetime.Stop()
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	idleArmed := true

	var last probe.Stats
	for {
		select {
		case <-ctx.Done():
			return StopCanceled, nil
		case <-lifetime.C:
			return StopMaxLifetime, nil
		case <-idle.C:
			idleArmed = false
			if s.clientCount() == 0 {
				return StopIdle, nil
			}
		case <-s.changed:
			n := s.clientCount()
			switch {
			case n > 0 && idleArmed:
				idle.Stop()
				idleArmed = false
			case n == 0 && !idleArmed:
				idle.Reset(s.cfg.IdleTimeout)
				idleArmed = true
			}
		case err := <-served:
			return StopFailed, fmt.Errorf("serving: %w", err)
		case <-collect.C:
			if st, ok := s.collect(ctx); ok {
				last = st
			}
		case <-stats.C:
			s.broadcast(item{stats: s.statsMessage(last)})
		}
	}
}

// collect reads one interval and hands it to the clients, with the
// records read before an error if one came: their flows have left the
// kernel. ok is false when the interval's stats are not to be trusted.
func (s *Server) collect(ctx context.Context) (_ probe.Stats, ok bool) {
	recs, st, err := s.src.Collect(ctx)
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return st, false
		}
		s.mu.Lock()
		s.errors++
		s.lastErr = err.Error()
		s.mu.Unlock()
		s.log.Warn("reading flows failed", "err", err, "records", len(recs))
		if len(recs) == 0 {
			return st, false
		}
	}
	for i := range recs {
		if s.cfg.NodeName != "" {
			recs[i].NodeName = s.cfg.NodeName
		}
		if recs[i].TS.IsZero() {
			recs[i].TS = now
		}
	}
	s.mu.Lock()
	s.seq++
	seq := s.seq
	n := len(s.clients)
	s.mu.Unlock()
	if n == 0 {
		return st, err == nil
	}
	ts := now
	if len(recs) > 0 {
		ts = recs[0].TS
	}
	// Converted once for all clients: the messages are only read from here on.
	s.broadcast(item{batches: wire.Batches(seq, ts, recs, s.cfg.BatchSize), records: len(recs)})
	return st, err == nil
}

func (s *Server) statsMessage(st probe.Stats) *probev1.Stats {
	m := &probev1.Stats{Ts: timestamppb.Now()}
	wire.FillStats(m, st)
	s.mu.Lock()
	m.Seq = s.seq
	m.CollectErrors = s.errors
	m.LastError = s.lastErr
	m.Clients = uint32(len(s.clients))
	s.mu.Unlock()
	return m
}

func (s *Server) broadcast(it item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for q := range s.clients {
		q.push(it)
	}
}

func (s *Server) clientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

func (s *Server) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// stop says goodbye to every client, waits a little for them to take it, and
// stops the gRPC server.
func (s *Server) stop(gs *grpc.Server, reason StopReason) {
	bye := &probev1.Goodbye{Reason: probev1.Goodbye_REASON_SHUTDOWN, Message: "the probe is shutting down"}
	switch reason {
	case StopMaxLifetime:
		bye = &probev1.Goodbye{
			Reason:  probev1.Goodbye_REASON_MAX_LIFETIME,
			Message: fmt.Sprintf("the probe reached its maximum lifetime of %v", s.cfg.MaxLifetime),
		}
	case StopIdle:
		bye = nil // nobody is there to hear it
	}
	s.mu.Lock()
	s.stopping = true
	for q := range s.clients {
		if bye != nil {
			q.close(&item{goodbye: bye})
		} else {
			q.close(nil)
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		// A client that does not read keeps its stream open; cut it off.
		gs.Stop()
		<-done
	}
}

// authorize refuses streams that do not carry the configured token.
func (s *Server) authorize(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if s.cfg.Token != "" && !validToken(ss.Context(), s.cfg.Token) {
		who := "unknown"
		if p, ok := peer.FromContext(ss.Context()); ok {
			who = p.Addr.String()
		}
		s.log.Warn("client refused: no valid token", "peer", who, "method", info.FullMethod)
		return status.Error(codes.Unauthenticated, "the probe requires its session's token")
	}
	return handler(srv, ss)
}

// validToken tells whether the stream's metadata carries "authorization:
// Bearer <token>". The comparison takes the same time whatever the bytes,
// so a local user cannot guess the token byte by byte.
func validToken(ctx context.Context, token string) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	valid := false
	for _, v := range md.Get("authorization") {
		got, found := strings.CutPrefix(v, "Bearer ")
		if found && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
			valid = true
		}
	}
	return valid
}

// Watch implements the probe protocol's Watch: a Hello, then the queued
// events of this client until it leaves or the server stops.
func (s *Server) Watch(req *probev1.WatchRequest, stream grpc.ServerStreamingServer[probev1.Event]) error {
	if v := req.GetProtocolVersion(); v > probev1.ProtocolVersion {
		return status.Errorf(codes.FailedPrecondition,
			"the client speaks probe protocol v%d, this probe (%s) speaks v%d: use a plugin of the probe's version",
			v, version.Version, probev1.ProtocolVersion)
	}
	q := newQueue(s.cfg.QueueLength)
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "the probe is shutting down")
	}
	// The hello goes first, before the queue can receive any interval, and
	// names the last interval before this client's.
	h := s.hello()
	h.Seq = proto.Uint64(s.seq)
	q.push(item{hello: h})
	s.clients[q] = struct{}{}
	s.mu.Unlock()
	s.signal()

	who := "unknown"
	if p, ok := peer.FromContext(stream.Context()); ok {
		who = p.Addr.String()
	}
	s.log.Info("client connected", "peer", who, "client", req.GetClient())
	defer func() {
		s.mu.Lock()
		delete(s.clients, q)
		s.mu.Unlock()
		s.signal()
		b, r := q.dropped()
		s.log.Info("client left", "peer", who, "dropped_batches", b, "dropped_records", r)
	}()

	for {
		it, ok := q.pop(stream.Context())
		if !ok {
			return stream.Context().Err()
		}
		if err := s.send(stream, q, it); err != nil {
			return err
		}
	}
}

func (s *Server) send(stream grpc.ServerStreamingServer[probev1.Event], q *queue, it item) error {
	switch {
	case it.hello != nil:
		return stream.Send(&probev1.Event{Event: &probev1.Event_Hello{Hello: it.hello}})
	case it.goodbye != nil:
		return stream.Send(&probev1.Event{Event: &probev1.Event_Goodbye{Goodbye: it.goodbye}})
	case it.stats != nil:
		// The drops are this client's own, counted up to the moment of sending.
		m := proto.CloneOf(it.stats)
		m.DroppedBatches, m.DroppedRecords = q.dropped()
		return stream.Send(&probev1.Event{Event: &probev1.Event_Stats{Stats: m}})
	}
	for _, b := range it.batches {
		if err := stream.Send(&probev1.Event{Event: &probev1.Event_Batch{Batch: b}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) hello() *probev1.Hello {
	return &probev1.Hello{
		ProtocolVersion: probev1.ProtocolVersion,
		ProbeVersion:    version.Version,
		ProbeCommit:     version.Commit,
		NodeName:        s.cfg.NodeName,
		KernelRelease:   s.cfg.KernelRelease,
		BootId:          s.cfg.BootID,
		HookSet:         s.src.HookSet(),
		Interval:        durationpb.New(s.cfg.Interval),
		StartTime:       timestamppb.New(s.start),
		Deadline:        timestamppb.New(s.deadline),
		IdleTimeout:     durationpb.New(s.cfg.IdleTimeout),
		NodeAddrs:       s.cfg.NodeAddrs,
	}
}
