//go:build linux

package collector

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

// conntrackResolver asks the kernel's connection tracking for the
// translated destination of a flow (a Service ClusterIP that kube-proxy
// DNATs to a backend).
type conntrackResolver struct {
	conn *conntrack.Conn
}

func newConntrackResolver(netnsPath string) (*conntrackResolver, error) {
	cfg := &netlink.Config{}
	if netnsPath != "" {
		f, err := os.Open(netnsPath)
		if err != nil {
			return nil, fmt.Errorf("opening the conntrack network namespace: %w", err)
		}
		// netlink.Dial enters the namespace while it creates the socket.
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	c, err := conntrack.Dial(cfg)
	if err != nil {
		return nil, fmt.Errorf("opening conntrack netlink: %w", err)
	}
	return &conntrackResolver{conn: c}, nil
}

// Translate returns the destination that answered a connection from local
// to remote, when conntrack rewrote it; ok is false when it did not, or
// conntrack does not know the connection.
func (r *conntrackResolver) Translate(proto uint8, local, remote netip.AddrPort) (netip.AddrPort, bool, error) {
	q := conntrack.NewFlow(proto, 0, local.Addr(), remote.Addr(), local.Port(), remote.Port(), 0, 0)
	f, err := r.conn.Get(q)
	if err != nil {
		var nerr *netlink.OpError
		if errors.As(err, &nerr) && errors.Is(nerr.Err, os.ErrNotExist) {
			return netip.AddrPort{}, false, nil
		}
		return netip.AddrPort{}, false, err
	}
	backend := netip.AddrPortFrom(f.TupleReply.IP.SourceAddress.Unmap(), f.TupleReply.Proto.SourcePort)
	if backend == remote || !backend.IsValid() {
		return netip.AddrPort{}, false, nil
	}
	return backend, true, nil
}

func (r *conntrackResolver) Close() error { return r.conn.Close() }
