package live

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/portforward"
	"github.com/kubectl-netflow/kubectl-netflow/plugin/probes"
	"github.com/kubectl-netflow/kubectl-netflow/probe/client"
)

// PortForwardConnector connects to the probe pods of mgr through
// port-forwards of fwd.
func PortForwardConnector(fwd *portforward.Forwarder, mgr *probes.Manager) func(ctx context.Context, node string) (Stream, error) {
	cfg := mgr.Config()
	return func(ctx context.Context, node string) (Stream, error) {
		pod, ok := mgr.PodName(node)
		if !ok {
			return nil, fmt.Errorf("node %s has no probe pod", node)
		}
		t, err := fwd.Open(context.WithoutCancel(ctx), cfg.Namespace, pod, cfg.Port)
		if err != nil {
			return nil, err
		}
		if err := waitListening(ctx, t); err != nil {
			t.Close()
			return nil, err
		}
		c, err := client.Dial(ctx, t.Addr, client.WithClientName("kubectl-netflow"), client.WithToken(cfg.Token))
		if err != nil {
			t.Close()
			return nil, err
		}
		s := &tunneled{Conn: c, tunnel: t}
		// A lost port-forward ends the stream now rather than at the
		// next keepalive.
		go func() {
			<-t.Done()
			c.Close()
		}()
		return s, nil
	}
}

// waitListening waits until the probe listens behind the tunnel. A probe
// that has just started takes a moment to load its programs; until then the
// port-forward closes each connection at once. The probe's gRPC server
// speaks first (its HTTP/2 settings), so a connection that yields a byte
// reaches it. Polling this way is much quicker than gRPC's reconnect
// backoff, which waits a second and more between attempts.
func waitListening(ctx context.Context, t *portforward.Tunnel) error {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", t.Addr)
		if err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _ := conn.Read(make([]byte, 1))
			conn.Close()
			if n == 1 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the probe to listen: %w", ctx.Err())
		case <-t.Done():
			return fmt.Errorf("waiting for the probe to listen: %w", t.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type tunneled struct {
	*client.Conn
	tunnel *portforward.Tunnel
	once   sync.Once
}

func (t *tunneled) Close() error {
	var err error
	t.once.Do(func() {
		err = t.Conn.Close()
		t.tunnel.Close()
	})
	return err
}

// Tee writes every record that src streams to w as NDJSON, so that
// `top --replay` can read it later, and passes the batches on.
func Tee(src flow.Source, w io.Writer) flow.Source { return &tee{src: src, w: flow.NewWriter(w)} }

type tee struct {
	src flow.Source
	w   *flow.Writer
}

func (t *tee) Stream(ctx context.Context, fn func(*flow.Batch) error) error {
	err := t.src.Stream(ctx, func(b *flow.Batch) error {
		for i := range b.Records {
			if err := t.w.Write(&b.Records[i]); err != nil {
				return fmt.Errorf("recording flows: %w", err)
			}
		}
		if len(b.Records) > 0 {
			if err := t.w.Flush(); err != nil {
				return fmt.Errorf("recording flows: %w", err)
			}
		}
		return fn(b)
	})
	if ferr := t.w.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("recording flows: %w", ferr)
	}
	return err
}
