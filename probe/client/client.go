// Package client is the plugin's side of the probe protocol: it connects to
// a probe, reads its Hello and then yields the records and stats it streams
// as Go values.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/internal/version"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
	probev1 "github.com/kubectl-netflow/kubectl-netflow/probe/api/v1"
	"github.com/kubectl-netflow/kubectl-netflow/probe/wire"
)

// maxMessageSize bounds one message from the probe. The probe sends at most
// wire.DefaultBatchSize records a message, far below it.
const maxMessageSize = 64 << 20

// Hello describes the probe at the other end.
type Hello struct {
	ProtocolVersion uint32
	ProbeVersion    string
	ProbeCommit     string
	NodeName        string
	KernelRelease   string
	// BootID changes on every boot of the node.
	BootID string
	// HookSet names the kernel hooks the probe uses.
	HookSet     string
	Interval    time.Duration
	IdleTimeout time.Duration
	StartTime   time.Time
	// Deadline is when the probe stops at the latest.
	Deadline time.Time
	// NodeAddrs are the addresses of the node's interfaces.
	NodeAddrs []string
}

// Batch holds the records of one interval.
type Batch struct {
	// Seq numbers the probe's intervals from 1. Missed counts the intervals
	// between the previous batch and this one that did not arrive because
	// this client read too slowly.
	Seq     uint64
	Missed  uint64
	TS      time.Time
	Records []flow.Record
}

// Stats is a health report of the probe and of this stream.
type Stats struct {
	probe.Stats
	TS time.Time
	// Seq is the last interval the probe collected.
	Seq uint64
	// DroppedBatches and DroppedRecords count what the probe dropped for
	// this client because it read too slowly.
	DroppedBatches uint64
	DroppedRecords uint64
	// CollectErrors counts intervals the probe failed to read; LastError is
	// the latest failure.
	CollectErrors uint64
	LastError     string
	Clients       int
}

// Event is what Recv yields: exactly one field is set.
type Event struct {
	Batch *Batch
	Stats *Stats
	// Goodbye is the probe's last word when it stops on its own.
	Goodbye *Goodbye
}

// Goodbye tells why the probe closed the stream.
type Goodbye struct {
	// MaxLifetime is true when the probe reached its maximum lifetime.
	MaxLifetime bool
	Message     string
}

// Option configures Dial.
type Option func(*options)

type options struct {
	dialer func(context.Context, string) (net.Conn, error)
	name   string
	token  string
}

// WithDialer makes Dial connect with dial instead of TCP, for example through
// a Kubernetes port-forward stream.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(o *options) { o.dialer = dial }
}

// WithClientName names the client in the probe's log.
func WithClientName(name string) Option {
	return func(o *options) { o.name = name }
}

// WithToken sends token as the stream's "authorization: Bearer <token>"
// metadata: the secret of the session that the probe was started with.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// Conn is a stream from one probe. Recv is not safe for concurrent use; Close
// may be called from any goroutine.
type Conn struct {
	cc      *grpc.ClientConn
	stream  grpc.ServerStreamingClient[probev1.Event]
	cancel  context.CancelFunc
	hello   Hello
	lastSeq uint64
	// seqKnown is set when lastSeq is known before the first batch (from
	// the hello): a drop before the client read anything shows then too.
	seqKnown bool
	pending  *Batch
}

// Dial connects to the probe at addr (host:port) and waits for its Hello
// while ctx allows. The stream itself outlives ctx: Close ends it.
func Dial(ctx context.Context, addr string, opts ...Option) (*Conn, error) {
	o := options{name: "kubectl-netflow " + version.Version}
	for _, opt := range opts {
		opt(&o)
	}
	dopts := []grpc.DialOption{
		// The probe listens on loopback only and is reached through the
		// API server's authenticated port-forward, so the stream needs no
		// TLS of its own.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	if o.dialer != nil {
		dopts = append(dopts, grpc.WithContextDialer(o.dialer))
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to the probe at %s: %w", addr, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if o.token != "" {
		sctx = metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+o.token)
	}
	c := &Conn{cc: cc, cancel: cancel}

	type result struct {
		hello Hello
		err   error
	}
	got := make(chan result, 1)
	go func() {
		var r result
		c.stream, r.err = probev1.NewProbeClient(cc).Watch(sctx,
			&probev1.WatchRequest{ProtocolVersion: probev1.ProtocolVersion, Client: o.name},
			grpc.WaitForReady(true))
		if r.err == nil {
			r.hello, r.err = c.recvHello()
		}
		got <- r
	}()
	select {
	case r := <-got:
		if r.err != nil {
			c.Close()
			return nil, fmt.Errorf("connecting to the probe at %s: %w", addr, r.err)
		}
		c.hello = r.hello
		return c, nil
	case <-ctx.Done():
		c.Close()
		<-got
		return nil, fmt.Errorf("connecting to the probe at %s: %w", addr, ctx.Err())
	}
}

func (c *Conn) recvHello() (Hello, error) {
	ev, err := c.stream.Recv()
	if err != nil {
		return Hello{}, err
	}
	h := ev.GetHello()
	if h == nil {
		return Hello{}, errors.New("the probe did not start with a hello")
	}
	if h.Seq != nil {
		c.lastSeq, c.seqKnown = h.GetSeq(), true
	}
	return Hello{
		ProtocolVersion: h.GetProtocolVersion(),
		ProbeVersion:    h.GetProbeVersion(),
		ProbeCommit:     h.GetProbeCommit(),
		NodeName:        h.GetNodeName(),
		KernelRelease:   h.GetKernelRelease(),
		BootID:          h.GetBootId(),
		HookSet:         h.GetHookSet(),
		Interval:        h.GetInterval().AsDuration(),
		IdleTimeout:     h.GetIdleTimeout().AsDuration(),
		StartTime:       h.GetStartTime().AsTime(),
		Deadline:        h.GetDeadline().AsTime(),
		NodeAddrs:       h.GetNodeAddrs(),
	}, nil
}

// Hello returns the probe's Hello.
func (c *Conn) Hello() Hello { return c.hello }

// Recv waits for the next event. A batch is returned once all the messages of
// its interval arrived. At the end of the stream it returns io.EOF, after the
// Goodbye if the probe said one.
func (c *Conn) Recv() (Event, error) {
	for {
		ev, err := c.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Event{}, io.EOF
			}
			return Event{}, fmt.Errorf("receiving from the probe: %w", err)
		}
		switch e := ev.GetEvent().(type) {
		case *probev1.Event_Batch:
			if b := c.addBatch(e.Batch); b != nil {
				return Event{Batch: b}, nil
			}
		case *probev1.Event_Stats:
			return Event{Stats: stats(e.Stats)}, nil
		case *probev1.Event_Goodbye:
			return Event{Goodbye: &Goodbye{
				MaxLifetime: e.Goodbye.GetReason() == probev1.Goodbye_REASON_MAX_LIFETIME,
				Message:     e.Goodbye.GetMessage(),
			}}, nil
		}
		// A hello again or an event kind of a newer probe: nothing to do.
	}
}

// addBatch gathers the messages of one interval and returns the batch when
// the last one arrived.
func (c *Conn) addBatch(m *probev1.RecordBatch) *Batch {
	if c.pending != nil && c.pending.Seq != m.GetSeq() {
		// The rest of an interval never came; hand on what did.
		c.pending = nil
	}
	if c.pending == nil {
		c.pending = &Batch{Seq: m.GetSeq(), TS: m.GetTs().AsTime()}
		if (c.seqKnown || c.lastSeq != 0) && m.GetSeq() > c.lastSeq+1 {
			c.pending.Missed = m.GetSeq() - c.lastSeq - 1
		}
	}
	c.pending.Records = wire.AppendRecords(c.pending.Records, m)
	if !m.GetLast() {
		return nil
	}
	b := c.pending
	c.pending = nil
	c.lastSeq = b.Seq
	return b
}

func stats(m *probev1.Stats) *Stats {
	return &Stats{
		Stats:          wire.Stats(m),
		TS:             m.GetTs().AsTime(),
		Seq:            m.GetSeq(),
		DroppedBatches: m.GetDroppedBatches(),
		DroppedRecords: m.GetDroppedRecords(),
		CollectErrors:  m.GetCollectErrors(),
		LastError:      m.GetLastError(),
		Clients:        int(m.GetClients()),
	}
}

// Close ends the stream and the connection.
func (c *Conn) Close() error {
	c.cancel()
	return c.cc.Close()
}
