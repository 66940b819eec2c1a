//go:build linux

package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

func hasCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// requireKernel skips unless the test runs as root on a kernel with what
// the probe needs.
func requireKernel(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the kernel tests load eBPF programs and create namespaces: run as root")
	}
	if !exists("/sys/kernel/btf/vmlinux") {
		t.Skip("the kernel has no BTF (/sys/kernel/btf/vmlinux)")
	}
	if detectCgroupRoot() == "" {
		t.Skip("no cgroup2 mount")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2's ip is not installed")
	}
}

func newCollector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	cfg.Logf = t.Logf
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Logf("hook set %s", c.HookSet())
	return c
}

// collectFor returns the records of the given pids over all intervals
// since the last call, merged per flow.
func collectFor(t *testing.T, c *Collector, pids ...int) []flow.Record {
	t.Helper()
	recs, st, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.LostFlows != 0 {
		t.Errorf("the kernel lost %d flow updates", st.LostFlows)
	}
	want := map[int64]bool{}
	for _, p := range pids {
		want[int64(p)] = true
	}
	type key struct {
		proto, addr, dst string
		port, dport, pid int64
	}
	merged := map[key]*flow.Record{}
	var out []flow.Record
	for i := range recs {
		r := &recs[i]
		if os.Getenv("NETFLOW_DEBUG") != "" && r.Protocol == "tcp" {
			t.Logf("all: %s %s:%d -> %s:%d pid %d tx %d/%d rx %d/%d", r.Process, r.Addr, r.Port, r.DstAddr, r.DstPort, r.PID, r.TxBytes, r.TxPackets, r.RxBytes, r.RxPackets)
		}
		if !want[r.PID] {
			continue
		}
		k := key{r.Protocol, r.Addr, r.DstAddr, r.Port, r.DstPort, r.PID}
		if m, ok := merged[k]; ok {
			m.Add(r)
			continue
		}
		merged[k] = r
	}
	for _, r := range merged {
		out = append(out, *r)
	}
	return out
}

func within(t *testing.T, what string, got, want int64, tol float64) {
	t.Helper()
	if want == 0 && got == 0 {
		return
	}
	err := math.Abs(float64(got-want)) / float64(want)
	if err > tol {
		t.Errorf("%s: got %d, want %d (error %.4f%%, allowed %.2f%%)", what, got, want, 100*err, 100*tol)
	} else {
		t.Logf("%s: got %d, want %d (error %.4f%%)", what, got, want, 100*err)
	}
}

// ipHeader is the IP header of one packet: IPv4 without options, IPv6
// without extension headers.
func ipHeader(v6 bool) int64 {
	if v6 {
		return 40
	}
	return 20
}

func TestTCPUDPAccuracy(t *testing.T) {
	requireKernel(t)
	c := newCollector(t, Config{})
	if !strings.HasPrefix(c.HookSet(), "cgroup_skb") {
		t.Fatalf("hook set %q", c.HookSet())
	}
	checkTraffic(t, c)
}

// TestFallbackHookSet disables the preferred socket layer: the next set
// that loads must count and attribute as well.
func TestFallbackHookSet(t *testing.T) {
	requireKernel(t)
	mountTracefs(t)
	c := newCollector(t, Config{SkipHookSets: []string{"tp_btf"}})
	if strings.HasPrefix(c.HookSet(), "cgroup_skb+tp_btf") {
		t.Fatalf("hook set %q: tp_btf was not skipped", c.HookSet())
	}
	checkTraffic(t, c)
}

// TestReceiveHookModes counts and attributes the accuracy matrix, whose
// servers read from sockets they made or accepted themselves, with the
// receive hook always attached and never (sampled is the default, which
// the other tests run).
func TestReceiveHookModes(t *testing.T) {
	requireKernel(t)
	for _, m := range []probe.ReceiveHook{probe.ReceiveHookAlways, probe.ReceiveHookOff} {
		t.Run(string(m), func(t *testing.T) {
			checkTraffic(t, newCollector(t, Config{ReceiveHook: m}))
		})
	}
}

// TestFlowMapsOnly counts TCP sockets in the flow maps, as on kernels that
// cannot give them slots.
func TestFlowMapsOnly(t *testing.T) {
	requireKernel(t)
	checkTraffic(t, newCollector(t, Config{NoSlots: true}))
}

// TestNoSeenSockets looks up the owner on every send and receive, as on
// kernels whose tracing programs cannot read socket cookies.
func TestNoSeenSockets(t *testing.T) {
	requireKernel(t)
	checkTraffic(t, newCollector(t, Config{NoSeenSockets: true}))
}

// TestPidScopedFlows keys flows by their owner's pid, as on kernels whose
// cgroup_skb programs cannot read the network namespace's cookie.
func TestPidScopedFlows(t *testing.T) {
	requireKernel(t)
	checkTraffic(t, newCollector(t, Config{NoNetnsCookie: true}))
}

// TestSameTupleTwoNamespaces sends from the same loopback address and port
// to the same server address in two network namespaces, as sidecars of two
// pods do: two flows, each with its own process and container.
func TestSameTupleTwoNamespaces(t *testing.T) {
	requireKernel(t)
	c := newCollector(t, Config{})
	cgRoot := detectCgroupRoot()
	const n, size = 200, 1000
	c.Collect(context.Background())
	type side struct {
		pid int
		id  string
	}
	var clients []side
	for range 2 {
		ns := newNetns(t)
		id := randomHex(64)
		srv := startHelper(t, ns, "udp-server", "127.0.0.1:5353", n, newCgroup(t, cgRoot, randomHex(64)))
		srv.line(t)
		cli := startHelper(t, ns, "udp-client-bound", "127.0.0.1:40053|127.0.0.1:5353", n, newCgroup(t, cgRoot, id))
		cli.wait(t)
		if got := srv.line(t); got != strconv.Itoa(n) {
			t.Fatalf("the server received %s datagrams", got)
		}
		srv.wait(t)
		clients = append(clients, side{cli.pid, id})
	}
	recs := collectFor(t, c, clients[0].pid, clients[1].pid)
	if len(recs) != 2 {
		t.Fatalf("want one flow per namespace, got %d: %+v", len(recs), recs)
	}
	for _, cl := range clients {
		i := slices.IndexFunc(recs, func(r flow.Record) bool { return r.PID == int64(cl.pid) })
		if i < 0 {
			t.Fatalf("no flow of pid %d: %+v", cl.pid, recs)
		}
		checkOwner(t, recs[i], cl.pid, cl.id)
		within(t, "tx bytes", recs[i].TxBytes, n*(size+8+20), 0.001)
	}
}

// TestNoSocketLayer skips every socket-layer set: ownership then rests on
// sock_create, the iterator and the tuple owners in user space.
func TestNoSocketLayer(t *testing.T) {
	requireKernel(t)
	c := newCollector(t, Config{SkipHookSets: []string{"tp_btf", "tracepoint", "fentry", "kprobe"}})
	if c.HookSet() != "cgroup_skb" {
		t.Fatalf("hook set %q, want cgroup_skb", c.HookSet())
	}
	checkTraffic(t, c)
}

// TestHandedOverListener serves connections from a worker process that
// inherited its listener, as pre-forked servers do. An accepted socket
// starts out with the owner of the listener (the kernel clones it), and the
// socket layer hands it to the worker when the worker reads: the next
// interval counts the connection as the worker's, for each of several
// connections in a row. The client dials from the same port each time and
// resets the connection, so the worker's next socket has the same
// addresses and ports, and may reuse the memory of the one before. The
// receive hook is always attached: sampled, it hands a socket over only at
// a read in one of its windows (TestReaderOfPassedSocket).
func TestHandedOverListener(t *testing.T) {
	requireKernel(t)
	c := newCollector(t, Config{ReceiveHook: probe.ReceiveHookAlways})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	const conns = 8
	w := startHelperFiles(t, "", "tcp-worker", "", conns, []*os.File{f})
	f.Close()
	ctx := context.Background()
	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free.Close()
	dialer := net.Dialer{
		LocalAddr: free.Addr(),
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
			return errors.Join(err, serr)
		},
	}
	for i := range conns {
		conn, err := dialer.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		w.line(t) // the worker has read: the socket is the worker's
		c.Collect(ctx)
		if _, err := conn.Write(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		w.line(t)
		recs, _, err := c.Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A reset leaves no TIME_WAIT behind: the next dial can use the
		// same port.
		_ = conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
		client := int64(conn.LocalAddr().(*net.TCPAddr).Port)
		found := false
		for _, r := range recs {
			if r.Protocol != "tcp" || r.DstPort != client || r.Port != int64(ln.Addr().(*net.TCPAddr).Port) {
				continue
			}
			found = true
			if r.PID != int64(w.pid) {
				t.Errorf("connection %d: the worker's socket counted as pid %d (%s), want the worker %d", i, r.PID, r.Process, w.pid)
			}
		}
		if !found {
			t.Errorf("connection %d: no record of the worker's socket", i)
		}
	}
	w.wait(t)
}

// TestSharedSocket has two processes, each on its own CPU, take turns
// sending on one socket (as after a fork): the socket is counted as the
// process that sent last.
func TestSharedSocket(t *testing.T) {
	requireKernel(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	c := newCollector(t, Config{})
	conn, peer, f := passedConn(t)
	a := startHelperFiles(t, "", "tcp-sender", "", 0, []*os.File{f})
	b := startHelperFiles(t, "", "tcp-sender", "", 1, []*os.File{f})
	f.Close()
	a.line(t)
	b.line(t)
	send := func(h *helper) {
		t.Helper()
		if _, err := io.WriteString(h.stdin, "send\n"); err != nil {
			t.Fatal(err)
		}
		h.line(t)
	}
	ctx := context.Background()
	for _, last := range []*helper{a, b, a, b} {
		other := a
		if last == a {
			other = b
		}
		send(last)
		send(other)
		send(last)
		// The next interval's first packet, from the peer, takes the
		// socket's owner as it is now.
		c.Collect(ctx)
		if _, err := peer.Write(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		recs, _, err := c.Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		local := int64(conn.LocalAddr().(*net.TCPAddr).Port)
		found := false
		for _, r := range recs {
			if r.Protocol == "tcp" && r.Port == local {
				found = true
				if r.PID != int64(last.pid) {
					t.Errorf("after %d, %d and %d sent: the socket counted as pid %d, want %d", last.pid, other.pid, last.pid, r.PID, last.pid)
				}
			}
		}
		if !found {
			t.Errorf("no record of the shared socket")
		}
	}
}

// TestReaderOfPassedSocket passes a socket to a process that only reads
// from it: the socket counts as the reader's, though it never sent, from
// its first read with the receive hook always attached, from its first read
// in a window when the hook is sampled. Without the hook, it stays its
// maker's.
func TestReaderOfPassedSocket(t *testing.T) {
	requireKernel(t)
	for _, tt := range []struct {
		mode   probe.ReceiveHook
		suffix string
		// Whether the reader owns the socket, and whether the test may
		// own part of it too: with the sampled hook, the bytes before the
		// reader's first read in a window count as the test's.
		reader, testToo bool
	}{
		{probe.ReceiveHookAlways, "", true, false},
		{probe.ReceiveHookOff, "(send-only)", false, false},
		{probe.ReceiveHookSampled, "(receive-sampled)", true, true},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			c := newCollector(t, Config{ReceiveHook: tt.mode, ReceiveSamplePeriod: 100 * time.Millisecond, ReceiveSampleWindow: 20 * time.Millisecond})
			set := c.HookSet()
			if !strings.HasPrefix(set, "cgroup_skb+tp_btf") && !strings.HasPrefix(set, "cgroup_skb+fentry") {
				t.Skipf("hook set %s: the receive hook is a BTF set's", set)
			}
			if tt.suffix != "" && !strings.HasSuffix(set, tt.suffix) || tt.suffix == "" && strings.HasSuffix(set, ")") {
				t.Errorf("hook set %q, want it to end in %q", set, tt.suffix)
			}
			checkReaderOfPassedSocket(t, c, tt.reader, tt.testToo)
		})
	}
}

// checkReaderOfPassedSocket passes a socket to a helper that only reads from
// it, sends it 100 bytes every 5 ms for half a second (five sample periods
// of the sampled hook), and checks whose the socket's records are.
func checkReaderOfPassedSocket(t *testing.T, c *Collector, reader, testToo bool) {
	const writes = 100
	conn, peer, f := passedConn(t)
	r := startHelperFiles(t, "", "tcp-reader", "", writes*100, []*os.File{f})
	f.Close()
	ctx := context.Background()
	c.Collect(ctx)
	for range writes {
		if _, err := peer.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.line(t)
	r.wait(t)
	recs, _, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	local := int64(conn.LocalAddr().(*net.TCPAddr).Port)
	owners := map[int64]int64{}
	for _, rec := range recs {
		if rec.Protocol == "tcp" && rec.Port == local {
			owners[rec.PID] += rec.RxBytes
		}
	}
	self := int64(os.Getpid())
	if len(owners) == 0 {
		t.Fatal("no record of the passed socket")
	}
	for pid, rx := range owners {
		if pid != int64(r.pid) && pid != self {
			t.Errorf("%d bytes counted as pid %d, neither the reader (%d) nor the test (%d)", rx, pid, r.pid, self)
		}
	}
	_, byReader := owners[int64(r.pid)]
	_, byTest := owners[self]
	switch {
	case reader && !byReader:
		t.Errorf("the reader (pid %d) owns none of the socket: bytes by pid %v", r.pid, owners)
	case reader && byTest && !testToo:
		t.Errorf("the test (pid %d) owns part of the socket: bytes by pid %v", self, owners)
	case !reader && (byReader || !byTest):
		t.Errorf("the socket is not the test's (pid %d) alone: bytes by pid %v", self, owners)
	}
}

// passedConn returns both ends of a TCP connection on loopback, closed when
// the test ends, and a file of the dialing end to pass to helpers: the
// caller closes it once they have it.
func passedConn(t *testing.T) (conn, peer net.Conn, f *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err = net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	peer, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	f, err = conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	return conn, peer, f
}

// mountTracefs mounts tracefs for the classic tracepoint set when the host
// has not, and unmounts it afterwards.
func mountTracefs(t *testing.T) {
	const dir = "/sys/kernel/tracing"
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil && st.Type == unix.TRACEFS_MAGIC {
		return
	}
	if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
		t.Logf("tracefs not mounted (%v): the classic tracepoint set will not load", err)
		return
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, 0) })
}

func checkTraffic(t *testing.T, c *Collector) {
	cgRoot := detectCgroupRoot()
	cpuRoot := detectCPUV1Root()
	a, b := newVethPair(t)
	for _, tc := range []struct {
		name       string
		proto      string
		v6         bool
		serverNS   string
		serverAddr string
	}{
		{"tcp4-loopback", "tcp", false, a, "127.0.0.1:0"},
		{"tcp6-loopback", "tcp", true, a, "[::1]:0"},
		{"tcp4-veth", "tcp", false, b, vethB4 + ":0"},
		{"tcp6-veth", "tcp", true, b, "[" + vethB6 + "]:0"},
		{"udp4-loopback", "udp", false, a, "127.0.0.1:0"},
		{"udp6-loopback", "udp", true, a, "[::1]:0"},
		{"udp4-veth", "udp", false, b, vethB4 + ":0"},
		{"udp6-veth", "udp", true, b, "[" + vethB6 + "]:0"},
		// IPv4 on dual-stack (v4-mapped) sockets: "listen|dial host".
		{"tcp4-dualstack-veth", "tcp", false, b, "[::]:0|" + vethB4},
		{"udp4-dualstack-loopback", "udp", false, a, "[::]:0|127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clientID, serverID := randomHex(64), randomHex(64)
			// The client is in a container on both hierarchies; the
			// server only on the v1 cpu hierarchy, as on a hybrid host
			// with a cgroupfs kubelet.
			clientCgroups := []string{newCgroup(t, cgRoot, clientID)}
			var serverCgroups []string
			if cpuRoot != "" {
				clientCgroups = append(clientCgroups, newCgroup(t, cpuRoot, clientID))
				serverCgroups = append(serverCgroups, newCgroup(t, cpuRoot, serverID))
			} else {
				serverCgroups = append(serverCgroups, newCgroup(t, cgRoot, serverID))
			}
			if tc.proto == "tcp" {
				checkTCP(t, c, tc.v6, a, tc.serverNS, tc.serverAddr, clientCgroups, serverCgroups, clientID, serverID)
			} else {
				checkUDP(t, c, tc.v6, a, tc.serverNS, tc.serverAddr, clientCgroups, serverCgroups, clientID, serverID)
			}
		})
	}
}

// testComm is the kernel's name of this test binary's processes.
func testComm() string {
	name := filepath.Base(os.Args[0])
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}

func checkOwner(t *testing.T, r flow.Record, pid int, container string) {
	t.Helper()
	if strings.Contains(r.Addr, "::ffff:") || strings.Contains(r.DstAddr, "::ffff:") {
		t.Errorf("flow %s -> %s: IPv4 shown v4-mapped", r.Addr, r.DstAddr)
	}
	if want := testComm(); r.Process != want {
		t.Errorf("flow %s:%d->%s:%d: process %q, want %q", r.Addr, r.Port, r.DstAddr, r.DstPort, r.Process, want)
	}
	if r.PID != int64(pid) {
		t.Errorf("pid %d, want %d", r.PID, pid)
	}
	if r.ContainerID != container {
		t.Errorf("flow %s:%d->%s:%d of pid %d: container id %q, want %q", r.Addr, r.Port, r.DstAddr, r.DstPort, r.PID, r.ContainerID, container)
	}
}

func checkTCP(t *testing.T, c *Collector, v6 bool, clientNS, serverNS, serverAddr string, clientCG, serverCG []string, clientID, serverID string) {
	const n = 10_000_000
	c.Collect(context.Background()) // start a fresh interval
	listen, dialHost, _ := strings.Cut(serverAddr, "|")
	srv := startHelper(t, serverNS, "tcp-server", listen, n, serverCG...)
	addr := dialAddr(t, srv.line(t), dialHost)
	cli := startHelper(t, clientNS, "tcp-client", addr, n, clientCG...)
	cliRetrans := retransLine(t, cli)
	srvRetrans := retransLine(t, srv)
	cli.wait(t)
	srv.wait(t)
	recs := collectFor(t, c, cli.pid, srv.pid)
	if len(recs) != 2 {
		t.Fatalf("want one flow per side, got %d: %+v", len(recs), recs)
	}
	// Every TCP segment carries the IP header and 32 bytes of TCP header
	// (timestamps on); SYNs carry 8 more bytes of options. Subtracting the
	// headers of the packets counted must leave the payload.
	// Retransmitted segments are on the wire too.
	hdr := ipHeader(v6) + 32
	for _, r := range recs {
		side := "server"
		pid, id, sent, got := srv.pid, serverID, srvRetrans, cliRetrans
		if r.PID == int64(cli.pid) {
			side, pid, id, sent, got = "client", cli.pid, clientID, cliRetrans, srvRetrans
		}
		checkOwner(t, r, pid, id)
		within(t, side+" tx payload", r.TxBytes-r.TxPackets*hdr, n+sent, 0.001)
		within(t, side+" rx payload", r.RxBytes-r.RxPackets*hdr, n+got, 0.001)
	}
	// Both ends counted the same packets: egress on one side is ingress
	// on the other.
	if recs[0].TxBytes != recs[1].RxBytes || recs[0].RxBytes != recs[1].TxBytes {
		t.Errorf("sides disagree: %d/%d tx/rx vs %d/%d", recs[0].TxBytes, recs[0].RxBytes, recs[1].TxBytes, recs[1].RxBytes)
	}
}

// TestIntervalsUnderTraffic reads intervals back to back while a transfer
// runs for 600 ms, so the packet programs switch flow maps mid-stream again
// and again: the intervals add up to the payload sent, and both ends agree
// to the byte and the packet.
func TestIntervalsUnderTraffic(t *testing.T) {
	requireKernel(t)
	c := newCollector(t, Config{})
	a, _ := newVethPair(t)
	cg := newCgroup(t, detectCgroupRoot(), randomHex(64))
	ctx := context.Background()
	c.Collect(ctx) // start a fresh interval
	srv := startHelper(t, a, "tcp-sink", "127.0.0.1:0", 0, cg)
	cli := startHelper(t, a, "tcp-source", srv.line(t), 600, cg)
	// The client prints "sent N retrans R" once the transfer is over.
	done := make(chan string, 1)
	go func() { s, _ := cli.out.ReadString('\n'); done <- s }()
	sum := map[int64]*flow.Record{}
	// sending counts the intervals read during the transfer in which
	// the client sent: bytes come out with the interval they were sent
	// in, not when the connection ends.
	sending := 0
	add := func() {
		sent := false
		for _, r := range collectFor(t, c, cli.pid, srv.pid) {
			sent = sent || (r.PID == int64(cli.pid) && r.TxBytes > 0)
			if s, ok := sum[r.PID]; ok {
				s.Add(&r)
			} else {
				sum[r.PID] = &r
			}
		}
		if sent {
			sending++
		}
	}
	intervals, sent, retrans := 0, int64(0), int64(0)
	for running := true; running; intervals++ {
		select {
		case line := <-done:
			if _, err := fmt.Sscanf(line, "sent %d retrans %d", &sent, &retrans); err != nil {
				t.Fatalf("client %d: %q: %v", cli.pid, line, err)
			}
			running = false
		default:
		}
		add()
	}
	cli.wait(t)
	srv.wait(t)
	add()
	if intervals < 5 {
		t.Errorf("the transfer spanned %d intervals; the test needs several switches mid-stream", intervals)
	}
	if sending < intervals/2 {
		t.Errorf("the client's bytes came out in %d of the %d intervals of the transfer", sending, intervals)
	}
	cs, ss := sum[int64(cli.pid)], sum[int64(srv.pid)]
	if cs == nil || ss == nil {
		t.Fatalf("missing a side: %+v", sum)
	}
	t.Logf("%d intervals, %d with bytes sent; client tx %d B in %d packets", intervals, sending, cs.TxBytes, cs.TxPackets)
	hdr := ipHeader(false) + 32
	within(t, "client tx payload", cs.TxBytes-cs.TxPackets*hdr, sent+retrans, 0.001)
	if cs.TxBytes != ss.RxBytes || cs.RxBytes != ss.TxBytes || cs.TxPackets != ss.RxPackets || cs.RxPackets != ss.TxPackets {
		t.Errorf("sides disagree: client tx %d/%d rx %d/%d, server tx %d/%d rx %d/%d (bytes/packets)",
			cs.TxBytes, cs.TxPackets, cs.RxBytes, cs.RxPackets, ss.TxBytes, ss.TxPackets, ss.RxBytes, ss.RxPackets)
	}
}

// dialAddr is the address a client dials for a server listening on addr:
// addr itself, or its port on host when host is set.
func dialAddr(t *testing.T, addr, host string) string {
	t.Helper()
	if host == "" {
		return addr
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(host, port)
}

// retransLine reads the "retrans N" line a TCP helper prints at its end.
func retransLine(t *testing.T, h *helper) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscanf(h.line(t), "retrans %d", &n); err != nil {
		t.Fatalf("helper %d: %v", h.pid, err)
	}
	return n
}

func checkUDP(t *testing.T, c *Collector, v6 bool, clientNS, serverNS, serverAddr string, clientCG, serverCG []string, clientID, serverID string) {
	const n, size = 1000, 1000
	c.Collect(context.Background())
	listen, dialHost, _ := strings.Cut(serverAddr, "|")
	srv := startHelper(t, serverNS, "udp-server", listen, n, serverCG...)
	addr := dialAddr(t, srv.line(t), dialHost)
	cli := startHelper(t, clientNS, "udp-client", addr, n, clientCG...)
	cli.wait(t)
	got := srv.line(t)
	srv.wait(t)
	if got != "1000" {
		t.Fatalf("the server received %s datagrams", got)
	}
	recs := collectFor(t, c, cli.pid, srv.pid)
	want := int64(n) * (size + 8 + ipHeader(v6))
	var sawClient, sawServer bool
	for _, r := range recs {
		if r.PID == int64(cli.pid) {
			sawClient = true
			checkOwner(t, r, cli.pid, clientID)
			within(t, "client tx bytes", r.TxBytes, want, 0.001)
			if r.TxPackets != n {
				t.Errorf("client tx packets %d, want %d", r.TxPackets, n)
			}
		} else {
			sawServer = true
			checkOwner(t, r, srv.pid, serverID)
			within(t, "server rx bytes", r.RxBytes, want, 0.001)
		}
	}
	if !sawClient || !sawServer {
		t.Fatalf("missing flows: %+v", recs)
	}
}

func TestDNSDomain(t *testing.T) {
	requireKernel(t)
	c := newCollector(t, Config{})
	a, b := newVethPair(t)
	id := randomHex(64)
	cg := newCgroup(t, detectCgroupRoot(), id)
	srv := startHelper(t, b, "dns-server", vethB4, 0)
	srv.line(t)
	cli := startHelper(t, a, "dns-client", vethB4, 100_000, cg)
	cli.wait(t)
	srv.wait(t)
	// The DNS answer reaches user space through a ring buffer.
	for deadline := time.Now().Add(5 * time.Second); c.dns.Len() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	recs := collectFor(t, c, cli.pid)
	found := false
	for _, r := range recs {
		if r.Protocol == "tcp" && r.DstPort == 8080 {
			found = true
			if r.DstDomain != testDomain {
				t.Errorf("dst_domain %q, want %q", r.DstDomain, testDomain)
			}
			if r.ContainerID != id {
				t.Errorf("container id %q, want %q", r.ContainerID, id)
			}
		}
	}
	if !found {
		t.Fatalf("no flow to port 8080 among %+v", recs)
	}
}

func TestExistingSockets(t *testing.T) {
	requireKernel(t)
	// A connection made before the probe starts.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv := <-accepted
	defer srv.Close()

	c := newCollector(t, Config{})
	c.Collect(context.Background())
	// Only send on the accepted side, so the socket layer (which attributes
	// in process context) never sees the dialing socket.
	if _, err := srv.Write(make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5000)
	if err := conn.(*net.TCPConn).SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for got := 0; got < 5000; {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	// Wait for the kernel's ACKs to leave, then look at every record of
	// the dialing socket: the iterator must have attributed the packets
	// that arrived before this process touched the socket again.
	time.Sleep(50 * time.Millisecond)
	recs, _, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().(*net.TCPAddr)
	var rx int64
	for _, r := range recs {
		if r.Port != int64(local.Port) || r.Protocol != "tcp" {
			continue
		}
		if r.PID != int64(os.Getpid()) || r.Process != testComm() {
			t.Errorf("flow of the pre-existing socket attributed to pid %d %q, want %d", r.PID, r.Process, os.Getpid())
		}
		rx += r.RxBytes
	}
	if rx < 5000 {
		t.Fatalf("rx bytes of the pre-existing socket: %d, want >= 5000 (records %+v)", rx, recs)
	}
}

func TestNotCgroup2(t *testing.T) {
	requireKernel(t)
	_, err := New(Config{CgroupRoot: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "cgroup2") {
		t.Fatalf("New on a directory that is not a cgroup2 mount: %v", err)
	}
	// A sub-cgroup, as a container's cgroup namespace shows it.
	sub := newCgroup(t, detectCgroupRoot(), randomHex(64))
	_, err = New(Config{CgroupRoot: sub})
	if err == nil || !strings.Contains(err.Error(), "not the root") {
		t.Fatalf("New on a sub-cgroup: %v", err)
	}
	t.Log(err)
}

// TestServiceTranslation NATs a "ClusterIP" to a backend in a namespace the
// test owns, like kube-proxy does for host processes, and points the
// collector's conntrack at that namespace.
func TestServiceTranslation(t *testing.T) {
	requireKernel(t)
	a, b := newVethPair(t)
	const svcIP, svcPort = "198.18.1.1", 80
	switch {
	case hasCommand("nft"):
		rules := fmt.Sprintf(`table ip nftest {
	chain out { type nat hook output priority -100; ip daddr %s tcp dport %d dnat to %s:8080; }
}`, svcIP, svcPort, vethB4)
		cmd := exec.Command("ip", "netns", "exec", a, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
	case hasCommand("iptables"):
		run(t, "ip", "netns", "exec", a, "iptables", "-t", "nat", "-A", "OUTPUT", "-d", svcIP, "-p", "tcp",
			"--dport", fmt.Sprint(svcPort), "-j", "DNAT", "--to-destination", vethB4+":8080")
	default:
		t.Skip("neither nft nor iptables is installed")
	}
	run(t, "ip", "-n", a, "route", "add", svcIP+"/32", "dev", "nf0")
	c := newCollector(t, Config{ConntrackNetns: "/run/netns/" + a})
	if c.ct == nil {
		t.Fatal("conntrack is not available")
	}
	srv := startHelper(t, b, "tcp-server", vethB4+":8080", 100_000)
	srv.line(t)
	cli := startHelper(t, a, "tcp-client", fmt.Sprintf("%s:%d", svcIP, svcPort), 100_000)
	retransLine(t, cli)
	retransLine(t, srv)
	cli.wait(t)
	srv.wait(t)
	recs := collectFor(t, c, cli.pid)
	if len(recs) == 0 {
		t.Fatal("no flows of the client")
	}
	var tx, rx int64
	for _, r := range recs {
		t.Logf("%s:%d -> %s:%d (service %s:%d) tx %d rx %d", r.Addr, r.Port, r.DstAddr, r.DstPort, r.DstSvcAddr, r.DstSvcPort, r.TxBytes, r.RxBytes)
		if r.DstAddr != vethB4 || r.DstPort != 8080 || r.DstSvcAddr != svcIP || r.DstSvcPort != svcPort {
			t.Errorf("flow to %s:%d (service %s:%d), want %s:8080 (service %s:%d)", r.DstAddr, r.DstPort, r.DstSvcAddr, r.DstSvcPort, vethB4, svcIP, svcPort)
		}
		tx += r.TxBytes
		rx += r.RxBytes
	}
	if tx < 100_000 || rx < 100_000 {
		t.Errorf("tx %d rx %d, want both >= 100000", tx, rx)
	}
}

// TestFullMapCounted bounds the flow map to a few entries: the flows that do
// not fit are counted, never silently dropped.
func TestFullMapCounted(t *testing.T) {
	requireKernel(t)
	c := newCollector(t, Config{MaxFlows: 4})
	c.Collect(context.Background())
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	// 32 flows: one socket to 32 ports (nothing listens on most of them;
	// the datagrams still leave the socket).
	base := sink.LocalAddr().(*net.UDPAddr)
	for i := range 32 {
		dst := &net.UDPAddr{IP: base.IP, Port: base.Port + i}
		_, _ = conn.WriteTo([]byte("x"), dst)
	}
	_, st, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.MapCapacity != 4 || st.MapEntries > 4 {
		t.Errorf("map %d of %d entries, want at most 4 of 4", st.MapEntries, st.MapCapacity)
	}
	if st.LostFlows == 0 {
		t.Errorf("no lost flows counted: %+v", st)
	}
	t.Logf("%+v", st)
}
