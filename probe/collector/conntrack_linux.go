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

// Translate looks up a flow from local to remote in connection tracking.
// When the connection's destination was rewritten (a Service ClusterIP
// DNATed to a backend), it returns the address the process connected to
// (svc) and the backend; ok is false otherwise.
//
// Where the NAT happens decides what the packet layer saw as remote: a pod's
// packets leave its namespace with the ClusterIP (the node translates them
// later), so remote is the ClusterIP and the original tuple matches; a host
// process's packets are translated before the cgroup egress hook, so its
// sent packets carry the backend (the reply tuple matches) while its
// received ones still carry the ClusterIP.
func (r *conntrackResolver) Translate(proto uint8, local, remote netip.AddrPort) (svc, backend netip.AddrPort, ok bool, err error) {
	q := conntrack.NewFlow(proto, 0, local.Addr(), remote.Addr(), local.Port(), remote.Port(), 0, 0)
	q.TupleReply = conntrack.Tuple{}
	f, err := r.conn.Get(q)
	if err == nil {
		b := netip.AddrPortFrom(f.TupleReply.IP.SourceAddress.Unmap(), f.TupleReply.Proto.SourcePort)
		if b.IsValid() && b != remote {
			return remote, b, true, nil
		}
		return netip.AddrPort{}, netip.AddrPort{}, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return netip.AddrPort{}, netip.AddrPort{}, false, err
	}
	// The reply comes from remote to local (or to local's SNAT address,
	// which this lookup then misses).
	q = conntrack.NewFlow(proto, 0, remote.Addr(), local.Addr(), remote.Port(), local.Port(), 0, 0)
	q.TupleReply, q.TupleOrig = q.TupleOrig, conntrack.Tuple{}
	f, err = r.conn.Get(q)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return netip.AddrPort{}, netip.AddrPort{}, false, err
	}
	s := netip.AddrPortFrom(f.TupleOrig.IP.DestinationAddress.Unmap(), f.TupleOrig.Proto.DestinationPort)
	if s.IsValid() && s != remote {
		return s, remote, true, nil
	}
	return netip.AddrPort{}, netip.AddrPort{}, false, nil
}

func (r *conntrackResolver) Close() error { return r.conn.Close() }
