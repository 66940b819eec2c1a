//go:build linux

package bpf

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// tcpPair connects a client to a server over IPv4 loopback, both plain TCP
// sockets: Go listeners use MPTCP by default, whose subflows the kernel
// creates, and which count in the flow maps.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.(*net.TCPListener).AcceptTCP()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, s
}

// tcpHeaders is the IPv4 and TCP header bytes of each packet on loopback:
// with timestamps, 20 + 32.
func tcpHeaders(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_timestamps")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) == "0" {
		return 40
	}
	return 52
}

// tuple is a TCP flow of a test, by its ports.
type tuple struct{ local, remote uint16 }

// drainSent drains the probe and returns the TCP payload its flows say was
// sent on ft in that interval.
func drainSent(t *testing.T, p *Probe, ft tuple) (payload uint64) {
	t.Helper()
	hdr := tcpHeaders(t)
	if _, err := p.Drain(func(fs []Flow) {
		for _, f := range fs {
			if f.Proto == 6 && f.Local.Port() == ft.local && f.Remote.Port() == ft.remote {
				payload += f.TxBytes - f.TxPackets*hdr
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return payload
}

// findSlot returns the state, index and contents of the slot that counts
// the TCP flow t, or SLOT_FREE when none does. Only a slot that
// has taken its tuple (on, closed or dead) counts: a slot handed to a
// socket keeps the key of its previous use until the first packet. A slot
// in use must be marked in slots_used, or the walk skips it.
func findSlot(t *testing.T, p *Probe, ft tuple) (netflowSlotState, uint32, netflowSlot) {
	t.Helper()
	var idx uint32
	var sl netflowSlot
	for it := p.maps.Slots.Iterate(); it.Next(&idx, &sl); {
		switch netflowSlotState(sl.State) {
		case netflowSlotStateSLOT_ON, netflowSlotStateSLOT_CLOSED, netflowSlotStateSLOT_DEAD:
		default:
			continue
		}
		if sl.Key.Proto == 6 && sl.Key.Lport == ft.local && sl.Key.Rport == ft.remote {
			if !slotMarked(t, p, idx) {
				t.Errorf("slot %d is in state %d but not marked in use", idx, sl.State)
			}
			return netflowSlotState(sl.State), idx, sl
		}
	}
	return netflowSlotStateSLOT_FREE, 0, netflowSlot{}
}

// slotState is the state of the slot that counts the TCP flow t.
func slotState(t *testing.T, p *Probe, ft tuple) netflowSlotState {
	t.Helper()
	st, _, _ := findSlot(t, p, ft)
	return st
}

// slotMarked tells whether slot idx is marked in use.
func slotMarked(t *testing.T, p *Probe, idx uint32) bool {
	t.Helper()
	used := make([]uint64, p.maps.Slots.MaxEntries()/64)
	if err := p.maps.SlotsUsed.Lookup(uint32(0), &used); err != nil {
		t.Fatal(err)
	}
	return used[idx/64]&(1<<(idx%64)) != 0
}

// slotConnection loads the probe with opts, skipping where the kernel
// cannot give sockets slots, and connects a client to a server on
// loopback; ends are the client's tuple and the server's.
func slotConnection(t *testing.T, opts Options) (p *Probe, client, server *net.TCPConn, ends []tuple) {
	t.Helper()
	p = loadAttached(t, opts)
	if p.flushSlots[0] == nil {
		t.Skip("this kernel cannot give TCP sockets slots (see the log)")
	}
	client, server = tcpPair(t)
	t.Cleanup(func() { client.Close(); server.Close() })
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	sport := uint16(server.LocalAddr().(*net.TCPAddr).Port)
	return p, client, server, []tuple{{cport, sport}, {sport, cport}}
}

// transfer sends n bytes from client to server and waits until they are
// read.
func transfer(t *testing.T, client, server *net.TCPConn, n int) {
	t.Helper()
	if _, err := client.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
}

// TestSlots follows a TCP connection on loopback through the life of its
// two slots: each interval's bytes are counted in the slots and come out
// in that interval while the sockets stay open, with their owner; what the
// slots hold when the sockets close comes out with the next read, after
// which the slots are handed back.
func TestSlots(t *testing.T) {
	p, client, server, ends := slotConnection(t, Options{MaxFlows: 4096})
	hdr := tcpHeaders(t)
	// total sums every read: in the end both sides agree on every byte
	// and packet (within one read they may not: a delayed acknowledgement
	// can leave in one interval and arrive in the next).
	var total [2]Flow
	read := func() (c, s Flow) {
		t.Helper()
		sums := []*Flow{&c, &s}
		if _, err := p.Drain(func(fs []Flow) {
			for _, f := range fs {
				for i, end := range ends {
					if f.Proto != 6 || f.Local.Port() != end.local || f.Remote.Port() != end.remote || !f.Local.Addr().IsLoopback() {
						continue
					}
					sum := sums[i]
					if sum.PID != 0 && sum.PID != f.PID {
						t.Errorf("two owners for one side: %d and %d", sum.PID, f.PID)
					}
					sum.PID, sum.Comm = f.PID, f.Comm
					sum.TxBytes += f.TxBytes
					sum.RxBytes += f.RxBytes
					sum.TxPackets += f.TxPackets
					sum.RxPackets += f.RxPackets
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		for i, f := range []Flow{c, s} {
			total[i].TxBytes += f.TxBytes
			total[i].RxBytes += f.RxBytes
			total[i].TxPackets += f.TxPackets
			total[i].RxPackets += f.RxPackets
		}
		return c, s
	}
	read() // the handshake

	for i, n := range []int{10_000, 5_000, 300_000} {
		transfer(t, client, server, n)
		for j, end := range ends {
			st, _, sl := findSlot(t, p, end)
			if st != netflowSlotStateSLOT_ON {
				t.Fatalf("interval %d: the slot of %v is in state %d, want %d (counting)", i, end, st, netflowSlotStateSLOT_ON)
			}
			// The packets went to the slot, in the set of the flow map
			// being counted into.
			c := sl.Counts[p.active]
			if j == 0 && c.TxBytes-c.TxPackets*hdr != uint64(n) {
				t.Errorf("interval %d: the client's slot holds %d payload bytes sent, want %d", i, c.TxBytes-c.TxPackets*hdr, n)
			}
			if j == 1 && c.RxBytes-c.RxPackets*hdr != uint64(n) {
				t.Errorf("interval %d: the server's slot holds %d payload bytes received, want %d", i, c.RxBytes-c.RxPackets*hdr, n)
			}
		}
		c, s := read()
		if got := c.TxBytes - c.TxPackets*hdr; got != uint64(n) {
			t.Errorf("interval %d: read %d payload bytes sent, want %d", i, got, n)
		}
		if s.TxBytes != s.TxPackets*hdr {
			t.Errorf("interval %d: the server sent %d bytes in %d packets, want bare acknowledgements", i, s.TxBytes, s.TxPackets)
		}
		for _, f := range []Flow{c, s} {
			if f.PID != uint32(os.Getpid()) || f.Comm == "" {
				t.Errorf("interval %d: owner %d %q, want this process (%d)", i, f.PID, f.Comm, os.Getpid())
			}
		}
	}

	var idx [2]uint32
	for j, end := range ends {
		_, idx[j], _ = findSlot(t, p, end)
	}
	client.Close()
	server.Close()
	deadline := time.Now().Add(5 * time.Second)
	for slotState(t, p, ends[0]) != netflowSlotStateSLOT_CLOSED || slotState(t, p, ends[1]) != netflowSlotStateSLOT_CLOSED {
		if time.Now().After(deadline) {
			t.Fatalf("the slots did not close: states %d and %d", slotState(t, p, ends[0]), slotState(t, p, ends[1]))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c, _ := read(); c.TxPackets == 0 || c.TxBytes != c.TxPackets*hdr {
		t.Errorf("the close: the client sent %d bytes in %d packets, want its FIN and acknowledgements", c.TxBytes, c.TxPackets)
	}
	for i, want := range []netflowSlotState{netflowSlotStateSLOT_DEAD, netflowSlotStateSLOT_FREE} {
		for _, end := range ends {
			if st := slotState(t, p, end); st != want {
				t.Errorf("read %d after the close: the slot of %v is in state %d, want %d", i+1, end, st, want)
			}
		}
		if i == 0 {
			read()
		}
	}
	c, s := total[0], total[1]
	if c.TxBytes != s.RxBytes || c.RxBytes != s.TxBytes || c.TxPackets != s.RxPackets || c.RxPackets != s.TxPackets {
		t.Errorf("sides disagree: client tx %d/%d rx %d/%d, server tx %d/%d rx %d/%d (bytes/packets)",
			c.TxBytes, c.TxPackets, c.RxBytes, c.RxPackets, s.TxBytes, s.TxPackets, s.RxBytes, s.RxPackets)
	}
	// Unless another socket got it meanwhile, a free slot is unmarked.
	for _, i := range idx {
		var sl netflowSlot
		if err := p.maps.Slots.Lookup(i, &sl); err != nil {
			t.Fatal(err)
		}
		if sl.State == uint32(netflowSlotStateSLOT_FREE) && slotMarked(t, p, i) {
			t.Errorf("slot %d is free but still marked in use", i)
		}
	}
}

// TestNoSlots checks the option tests use to count TCP in the flow maps:
// no slot programs, and a connection's bytes still come out exactly.
func TestNoSlots(t *testing.T) {
	p := loadAttached(t, Options{MaxFlows: 4096, NoSlots: true})
	if p.flushSlots[0] != nil {
		t.Fatal("the slot programs are loaded")
	}
	client, server := tcpPair(t)
	defer client.Close()
	defer server.Close()
	end := tuple{uint16(client.LocalAddr().(*net.TCPAddr).Port), uint16(server.LocalAddr().(*net.TCPAddr).Port)}
	if _, err := p.Drain(func([]Flow) {}); err != nil { // the handshake
		t.Fatal(err)
	}
	if _, err := client.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if st := slotState(t, p, end); st != netflowSlotStateSLOT_FREE {
		t.Errorf("the client has a slot in state %d", st)
	}
	if payload := drainSent(t, p, end); payload != 1000 {
		t.Errorf("read %d payload bytes sent, want 1000", payload)
	}
}

// TestReconnectedSocket disconnects a TCP socket (connect with AF_UNSPEC)
// and connects it again elsewhere: the closed connection's slot is read
// and handed back, the new connection gets a slot of its own, and each
// connection's bytes come out under its own tuple.
func TestReconnectedSocket(t *testing.T) {
	p := loadAttached(t, Options{MaxFlows: 4096})
	if p.flushSlots[0] == nil {
		t.Skip("this kernel cannot give TCP sockets slots (see the log)")
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	var servers [2]*net.TCPListener
	for i := range servers {
		ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		servers[i] = ln.(*net.TCPListener)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var payload [2]uint64
	var ends [2]tuple
	var idx [2]uint32
	for i, ln := range servers {
		if i > 0 {
			// connect(2) with AF_UNSPEC dissolves the association.
			unspec := unix.RawSockaddr{Family: unix.AF_UNSPEC}
			if _, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec)); errno != 0 {
				t.Fatalf("disconnecting: %v", errno)
			}
		}
		remote := uint16(ln.Addr().(*net.TCPAddr).Port)
		if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: int(remote)}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		s, err := ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sa, err := unix.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		local := uint16(sa.(*unix.SockaddrInet4).Port)
		ends[i] = tuple{local, remote}
		// The handshake, with its SYN options, and the previous
		// connection's end go with this read.
		if _, err := p.Drain(func([]Flow) {}); err != nil {
			t.Fatal(err)
		}
		n := 1000 * (i + 1)
		if _, err := unix.Write(fd, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		var st netflowSlotState
		if st, idx[i], _ = findSlot(t, p, ends[i]); st != netflowSlotStateSLOT_ON {
			t.Fatalf("connection %d: the socket's slot is in state %d, want %d (counting)", i, st, netflowSlotStateSLOT_ON)
		}
		payload[i] = drainSent(t, p, tuple{local, remote})
	}
	for i, got := range payload {
		if want := uint64(1000 * (i + 1)); got != want {
			t.Errorf("connection %d: read %d payload bytes sent, want %d", i, got, want)
		}
	}
	// The first connection's slot was closed, then read twice (after the
	// second handshake, and with the second connection's bytes): it is
	// free, and the second connection had a slot of its own.
	if idx[0] == idx[1] {
		t.Errorf("both connections counted in slot %d", idx[0])
	}
	if st := slotState(t, p, ends[0]); st != netflowSlotStateSLOT_FREE {
		t.Errorf("the first connection's slot is in state %d, want %d (free)", st, netflowSlotStateSLOT_FREE)
	}
}

// TestIdleSlotTakenBack leaves a connection idle for as many reads as the
// probe allows: its slots are taken back, read twice more and freed, and
// the connection's later bytes count, exactly, in the flow maps. The
// client's slot then goes to a new connection, and the first one's close
// leaves it alone.
func TestIdleSlotTakenBack(t *testing.T) {
	const idle = 2
	p, client, server, ends := slotConnection(t, Options{MaxFlows: 4096, SlotIdleReads: idle})
	// read returns the payload the client sent in this read.
	read := func() uint64 { return drainSent(t, p, ends[0]) }
	read() // the handshake
	transfer(t, client, server, 1000)
	for _, end := range ends {
		if st := slotState(t, p, end); st != netflowSlotStateSLOT_ON {
			t.Fatalf("the slot of %v is in state %d, want %d (counting)", end, st, netflowSlotStateSLOT_ON)
		}
	}
	_, first, _ := findSlot(t, p, ends[0])
	if got := read(); got != 1000 {
		t.Errorf("read %d payload bytes sent, want 1000", got)
	}
	// A delayed acknowledgement may keep a slot busy for a read more.
	reads := 0
	for ; slotState(t, p, ends[0]) == netflowSlotStateSLOT_ON || slotState(t, p, ends[1]) == netflowSlotStateSLOT_ON; reads++ {
		if reads > idle+2 {
			t.Fatalf("the slots are still counting after %d idle reads (the probe takes them back after %d)", reads, idle)
		}
		read()
	}
	t.Logf("the slots were taken back after %d idle reads", reads)
	read()
	read()
	for _, end := range ends {
		if st := slotState(t, p, end); st != netflowSlotStateSLOT_FREE {
			t.Errorf("two reads after it was taken back, the slot of %v is in state %d, want %d (free)", end, st, netflowSlotStateSLOT_FREE)
		}
	}
	transfer(t, client, server, 2000)
	if st := slotState(t, p, ends[0]); st != netflowSlotStateSLOT_FREE {
		t.Errorf("the client counts in a slot again (state %d)", st)
	}
	if got := read(); got != 2000 {
		t.Errorf("after the slot was taken back: read %d payload bytes sent, want 2000", got)
	}

	// The search for a free slot starts where it is told: the next
	// connection gets the first one's slot.
	if err := p.maps.NextSlot.Put(uint32(0), first); err != nil {
		t.Fatal(err)
	}
	client2, server2 := tcpPair(t)
	defer client2.Close()
	defer server2.Close()
	next := tuple{uint16(client2.LocalAddr().(*net.TCPAddr).Port), uint16(server2.LocalAddr().(*net.TCPAddr).Port)}
	transfer(t, client2, server2, 100)
	if st, idx, _ := findSlot(t, p, next); st != netflowSlotStateSLOT_ON || idx != first {
		t.Fatalf("the new connection counts in slot %d (state %d), want slot %d counting", idx, st, first)
	}
	// The first connection still names the slot; its close must not
	// take it from the new one.
	client.Close()
	server.Close()
	time.Sleep(200 * time.Millisecond)
	transfer(t, client2, server2, 100)
	if st, idx, _ := findSlot(t, p, next); st != netflowSlotStateSLOT_ON || idx != first {
		t.Errorf("after the first connection closed, the new one counts in slot %d (state %d), want slot %d counting", idx, st, first)
	}
}

// TestExistingSocketSlots connects before the probe starts: the iterator
// that attributes existing sockets gives both ends slots, which count the
// connection's bytes exactly. Their close goes unseen (only sockops
// callbacks can ask for it), so the slots come back once idle for as many
// reads as the probe allows.
func TestExistingSocketSlots(t *testing.T) {
	skipWithoutBPF(t)
	client, server := tcpPair(t)
	defer client.Close()
	defer server.Close()
	ends := []tuple{
		{uint16(client.LocalAddr().(*net.TCPAddr).Port), uint16(server.LocalAddr().(*net.TCPAddr).Port)},
		{uint16(server.LocalAddr().(*net.TCPAddr).Port), uint16(client.LocalAddr().(*net.TCPAddr).Port)},
	}
	const idle = 2
	p := loadAttached(t, Options{MaxFlows: 4096, SlotIdleReads: idle})
	if p.flushSlots[0] == nil {
		t.Skip("this kernel cannot give TCP sockets slots (see the log)")
	}
	read := func() uint64 { return drainSent(t, p, ends[0]) }
	read()
	transfer(t, client, server, 5000)
	for _, end := range ends {
		if st := slotState(t, p, end); st != netflowSlotStateSLOT_ON {
			t.Fatalf("the slot of %v is in state %d, want %d (counting)", end, st, netflowSlotStateSLOT_ON)
		}
	}
	if got := read(); got != 5000 {
		t.Errorf("read %d payload bytes sent, want 5000", got)
	}
	client.Close()
	server.Close()
	reads := 0
	for ; slotState(t, p, ends[0]) == netflowSlotStateSLOT_ON || slotState(t, p, ends[1]) == netflowSlotStateSLOT_ON; reads++ {
		if reads > idle+2 {
			t.Fatalf("the slots of the closed sockets are still counting after %d reads (the probe takes them back after %d idle)", reads, idle)
		}
		read()
	}
	read()
	read()
	for _, end := range ends {
		if st := slotState(t, p, end); st != netflowSlotStateSLOT_FREE {
			t.Errorf("the slot of %v is in state %d, want %d (free)", end, st, netflowSlotStateSLOT_FREE)
		}
	}
}

// TestSlotKeepsItsTuple DNATs a connection on the way out, as kube-proxy
// does for host processes that connect to a Service, in a network
// namespace the test owns: the client's packets leave with the backend's
// address and come back with the Service's. Each packet still counts under
// its own tuple, as the flow maps count it, whichever of them the socket's
// slot took.
func TestSlotKeepsItsTuple(t *testing.T) {
	p := loadAttached(t, Options{MaxFlows: 4096})
	if p.flushSlots[0] == nil {
		t.Skip("this kernel cannot give TCP sockets slots (see the log)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed")
	}
	hdr := tcpHeaders(t)
	ns := fmt.Sprintf("nfslot-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	const backend, service = "10.77.0.1", "198.18.0.1"
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "addr", "add", backend+"/32", "dev", "lo")
	ip("-n", ns, "route", "add", service+"/32", "dev", "lo")

	type result struct {
		local, port uint16
		err         error
	}
	ready := make(chan uint16)
	nat := make(chan error)
	done := make(chan result)
	const n = 20_000
	go func() {
		// The sockets are made in the namespace: this thread enters it
		// and, locked to this goroutine, ends with it.
		runtime.LockOSThread()
		r := result{}
		defer func() { done <- r }()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			r.err = err
			close(ready)
			return
		}
		defer f.Close()
		if r.err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); r.err != nil {
			close(ready)
			return
		}
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(context.Background(), "tcp4", backend+":0")
		if err != nil {
			r.err = err
			close(ready)
			return
		}
		defer ln.Close()
		r.port = uint16(ln.Addr().(*net.TCPAddr).Port)
		ready <- r.port
		if r.err = <-nat; r.err != nil {
			return
		}
		c, err := net.DialTCP("tcp4", nil, &net.TCPAddr{IP: net.ParseIP(service), Port: 80})
		if err != nil {
			r.err = err
			return
		}
		defer c.Close()
		s, err := ln.(*net.TCPListener).AcceptTCP()
		if err != nil {
			r.err = err
			return
		}
		defer s.Close()
		r.local = uint16(c.LocalAddr().(*net.TCPAddr).Port)
		if _, r.err = c.Write(make([]byte, n)); r.err != nil {
			return
		}
		_, r.err = io.ReadFull(s, make([]byte, n))
	}()
	port, ok := <-ready
	if !ok {
		t.Fatal((<-done).err)
	}
	rules := fmt.Sprintf(`table ip nfslot {
	chain out { type nat hook output priority -100; ip daddr %s tcp dport 80 dnat to %s:%d; }
}`, service, backend, port)
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		nat <- err
		<-done
		t.Fatalf("nft: %v\n%s", err, out)
	}
	nat <- nil
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}

	var toBackend, fromService Flow
	if _, err := p.Drain(func(fs []Flow) {
		for _, f := range fs {
			if f.Proto != 6 || f.Local.Port() != r.local {
				continue
			}
			switch f.Remote.String() {
			case fmt.Sprintf("%s:%d", backend, port):
				toBackend.TxBytes += f.TxBytes
				toBackend.TxPackets += f.TxPackets
				toBackend.RxBytes += f.RxBytes
			case service + ":80":
				fromService.TxBytes += f.TxBytes
				fromService.RxBytes += f.RxBytes
			default:
				t.Errorf("a flow of the client to %s", f.Remote)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// The first packet after the handshake, the client's acknowledgement,
	// left for the backend: the slot took that tuple.
	if slotState(t, p, tuple{r.local, port}) == netflowSlotStateSLOT_FREE {
		t.Errorf("the client's socket has no slot counting its flow to the backend")
	}
	// The SYN carries options that no other packet of the flow does: up to
	// 12 bytes more than the rest.
	if got := toBackend.TxBytes - toBackend.TxPackets*hdr; toBackend.RxBytes != 0 || got < n || got > n+12 {
		t.Errorf("to the backend: sent %d payload bytes and received %d bytes, want %d (and the SYN's options) and none", got, toBackend.RxBytes, n)
	}
	if fromService.TxBytes != 0 || fromService.RxBytes == 0 {
		t.Errorf("from the service: sent %d bytes and received %d, want none and the acknowledgements", fromService.TxBytes, fromService.RxBytes)
	}
}

// BenchmarkFlushSlots measures what the slots add to each read: the walk
// of every slot by the flush program, with every slot free, and with every
// slot counting a flow of its own that it moves into the flow map.
func BenchmarkFlushSlots(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "free", true: "full"}[full]
		b.Run(name, func(b *testing.B) {
			p := newDrainProbe(b, true)
			if p.flushSlots[0] == nil {
				b.Skip("this kernel cannot load the slot programs")
			}
			n := int(p.maps.Slots.MaxEntries())
			idx := make([]uint32, n)
			slots := make([]netflowSlot, n)
			for i := range slots {
				idx[i] = uint32(i)
				sl := &slots[i]
				sl.State = uint32(netflowSlotStateSLOT_ON)
				sl.Key.Proto = 6
				sl.Key.Laddr[10], sl.Key.Laddr[11], sl.Key.Laddr[12] = 0xff, 0xff, 10
				sl.Key.Raddr[10], sl.Key.Raddr[11], sl.Key.Raddr[12] = 0xff, 0xff, 10
				sl.Key.Lport, sl.Key.Rport = uint16(i), 443
				sl.Counts[0].TxBytes, sl.Counts[0].TxPackets = 1500, 1
				sl.Owner.Pid = 1
			}
			want := 0
			if full {
				want = n
			}
			used := make([]uint64, n/64)
			for i := range used {
				used[i] = ^uint64(0)
			}
			// The timer covers the flush program's runs only: filling and
			// emptying the maps in between is the benchmark's own work.
			var spent time.Duration
			for range b.N {
				if full {
					if _, err := p.maps.Slots.BatchUpdate(idx, slots, nil); err != nil {
						b.Fatal(err)
					}
					if err := p.maps.SlotsUsed.Put(uint32(0), used); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				if _, err := p.flushSlots[0].Run(&ebpf.RunOptions{}); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(start)
				if got, err := p.drainByBatch(p.maps.FlowsA, func([]Flow) {}); err != nil || got != want {
					b.Fatalf("the flush moved %d flows, want %d: %v", got, want, err)
				}
			}
			b.ReportMetric(float64(spent.Microseconds())/1e3/float64(b.N), "ms/interval")
		})
	}
}
