//go:build linux

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// seenSocket sends datagrams from one thread pinned to one CPU, and reads
// what the socket layer knows of the socket: its owner (sk_storage, looked
// up by descriptor) and the entry of seen_socks that remembers it.
type seenSocket struct {
	p      *Probe
	cpu    int
	conn   *net.UDPConn
	fd     int
	cookie uint64
}

// newSeenSocket locks the calling goroutine to its thread and pins the
// thread to one CPU until the test ends.
func newSeenSocket(t *testing.T, p *Probe) *seenSocket {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	var orig, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		t.Fatal(err)
	}
	cpu := 0
	for !orig.IsSet(cpu) {
		cpu++
	}
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.SchedSetaffinity(0, &orig) })

	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	conn, err := net.DialUDP("udp4", nil, recv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &seenSocket{p: p, cpu: cpu, conn: conn}
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		s.fd = int(fd)
		s.cookie, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return s
}

// send writes a datagram: a send through the socket layer, on s.cpu.
func (s *seenSocket) send(t *testing.T) {
	t.Helper()
	if _, err := s.conn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

// owner is the pid the socket's sk_storage names.
func (s *seenSocket) owner(t *testing.T) uint32 {
	t.Helper()
	v := make([]byte, s.p.maps.Owners.ValueSize())
	if err := s.p.maps.Owners.Lookup(int32(s.fd), v); err != nil {
		t.Fatalf("the socket has no owner: %v", err)
	}
	return binary.NativeEndian.Uint32(v)
}

// setOwner writes pid into the socket's sk_storage, as if another process
// had sent last.
func (s *seenSocket) setOwner(t *testing.T, pid uint32) {
	t.Helper()
	v := make([]byte, s.p.maps.Owners.ValueSize())
	if err := s.p.maps.Owners.Lookup(int32(s.fd), v); err != nil {
		t.Fatal(err)
	}
	binary.NativeEndian.PutUint32(v, pid)
	if err := s.p.maps.Owners.Update(int32(s.fd), v, ebpf.UpdateExist); err != nil {
		t.Fatal(err)
	}
}

// entry finds the way of seen_socks that remembers the socket on s.cpu.
func (s *seenSocket) entry(t *testing.T) (way uint32, e netflowSeenSock, ok bool) {
	t.Helper()
	for way = range s.p.maps.SeenSocks.MaxEntries() {
		var per []netflowSeenSock
		if err := s.p.maps.SeenSocks.Lookup(way, &per); err != nil {
			t.Fatal(err)
		}
		if per[s.cpu].Cookie == s.cookie {
			return way, per[s.cpu], true
		}
	}
	return 0, netflowSeenSock{}, false
}

// TestSeenSockets checks the socket layer's memory of sockets: a socket
// it found owned by the caller is not looked up again on that CPU, until a
// socket of its way changes hands (the way's epoch moves) or the interval
// ends (Drain); and an entry with another cookie (a socket freed, another
// at its address) does not pass for it.
func TestSeenSockets(t *testing.T) {
	p := loadAttached(t, Options{MaxFlows: 1024})
	if p.HookSet() != "cgroup_skb+"+HookSetTpBtf && p.HookSet() != "cgroup_skb+"+HookSetFentry {
		t.Skipf("hook set %s: only the BTF sets remember sockets", p.HookSet())
	}
	me := uint32(os.Getpid())
	s := newSeenSocket(t, p)
	s.send(t)
	if got := s.owner(t); got != me {
		t.Fatalf("the socket's owner is %d, want %d", got, me)
	}
	way, e, ok := s.entry(t)
	if !ok {
		t.Fatalf("no entry on CPU %d remembers the socket (cookie %d)", s.cpu, s.cookie)
	}
	if e.Pid != me || e.Sk == 0 {
		t.Fatalf("the entry is %+v, want pid %d and the socket's address", e, me)
	}

	// The probe sees every socket of the machine: other tasks on this CPU
	// may take the way, and changes of hands anywhere move its epoch. The
	// checks that want an entry to hold try a few times.
	if !s.tries(func() bool {
		s.send(t)
		s.setOwner(t, 1)
		s.send(t)
		return s.owner(t) == 1
	}) {
		t.Errorf("a remembered socket was looked up again: owner %d, want 1 left alone", s.owner(t))
	}

	// A socket of the way changed hands: the way's entries are stale.
	s.setOwner(t, 1)
	epoch := s.moveEpoch(t, way)
	s.send(t)
	if got := s.owner(t); got != me {
		t.Errorf("an entry older than the last change of hands held: owner %d, want %d", got, me)
	}
	// That send took the socket back from pid 1: a change of hands, which
	// moves the way's epoch once more.
	var moved uint64
	if err := p.maps.OwnerEpoch.Lookup(way, &moved); err != nil {
		t.Fatal(err)
	}
	if moved < epoch+1 {
		t.Errorf("the way's epoch is %d after a change of hands, want at least %d", moved, epoch+1)
	}
	// And the send that took it back remembers it at once.
	if !s.tries(func() bool {
		s.setOwner(t, 1)
		s.moveEpoch(t, way)
		s.send(t) // takes it back
		s.setOwner(t, 1)
		s.send(t)
		return s.owner(t) == 1
	}) {
		t.Errorf("the socket is not remembered again after the change of hands: owner %d, want 1 left alone", s.owner(t))
	}

	// An interval ends: every entry is stale.
	if _, err := p.Drain(func([]Flow) {}); err != nil {
		t.Fatal(err)
	}
	s.send(t)
	if got := s.owner(t); got != me {
		t.Errorf("an entry of the interval before held: owner %d, want %d", got, me)
	}

	// The same address with another cookie: the socket must be looked up.
	s.setOwner(t, 1)
	var per []netflowSeenSock
	if err := p.maps.SeenSocks.Lookup(way, &per); err != nil {
		t.Fatal(err)
	}
	per[s.cpu].Cookie ^= 1
	if err := p.maps.SeenSocks.Put(way, per); err != nil {
		t.Fatal(err)
	}
	s.send(t)
	if got := s.owner(t); got != me {
		t.Errorf("an entry with another cookie passed for the socket: owner %d, want %d", got, me)
	}
	if !s.tries(func() bool {
		_, e, ok := s.entry(t)
		if !ok || e.Pid != me {
			s.send(t)
			return false
		}
		return true
	}) {
		t.Errorf("the socket is not remembered again after its lookup")
	}
}

// tries runs check up to five times, until it holds.
func (s *seenSocket) tries(check func() bool) bool {
	for range 5 {
		if check() {
			return true
		}
	}
	return false
}

// moveEpoch moves the epoch of way by one, as a change of hands of one of
// its sockets does, and returns the value it moved to.
func (s *seenSocket) moveEpoch(t *testing.T, way uint32) uint64 {
	t.Helper()
	var epoch uint64
	if err := s.p.maps.OwnerEpoch.Lookup(way, &epoch); err != nil {
		t.Fatal(err)
	}
	epoch++
	if err := s.p.maps.OwnerEpoch.Put(way, epoch); err != nil {
		t.Fatal(err)
	}
	return epoch
}

// TestNoSeenSocketsOption checks the socket layer without its memory, as on
// kernels before 5.12: every send looks the owner up, and nothing is
// remembered.
func TestNoSeenSocketsOption(t *testing.T) {
	p := loadAttached(t, Options{MaxFlows: 1024, NoSeenSockets: true})
	if p.HookSet() != "cgroup_skb+"+HookSetTpBtf && p.HookSet() != "cgroup_skb+"+HookSetFentry {
		t.Skipf("hook set %s: only the BTF sets remember sockets", p.HookSet())
	}
	me := uint32(os.Getpid())
	s := newSeenSocket(t, p)
	for range 3 {
		s.setOwner(t, 1)
		s.send(t)
		if got := s.owner(t); got != me {
			t.Fatalf("the socket's owner is %d after a send, want %d", got, me)
		}
	}
	if _, e, ok := s.entry(t); ok {
		t.Errorf("the socket is remembered: %+v", e)
	}
}

// TestSocketSetWithoutCookie loads the tp_btf set on a kernel that refuses
// bpf_get_socket_cookie in tracing programs (5.5 to 5.11), played by a
// loader that fails while the program calls it: the set attaches without
// the memory of sockets, and says so.
func TestSocketSetWithoutCookie(t *testing.T) {
	skipWithoutBPF(t)
	spec, err := loadNetflow()
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("program tp_btf_send: invalid argument: unknown func bpf_get_socket_cookie#46")
	refusedAgain := errors.New("program tp_btf_send: operation not permitted")
	load := func(objs any) error {
		var v uint32
		if err := spec.Variables["have_cookie_in_tracing"].Get(&v); err != nil {
			return err
		}
		if v != 0 {
			return refused
		}
		return spec.LoadAndAssign(objs, nil)
	}
	var logged []string
	logf := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	hooks, err := attachSocketSetOrDegrade(spec, HookSetTpBtf, load, false, logf)
	if err != nil {
		t.Fatalf("the set did not attach without the cookie: %v", err)
	}
	attached := hooks.send != nil && hooks.recv != nil
	for _, l := range []link.Link{hooks.send, hooks.recv} {
		if l != nil {
			l.Close()
		}
	}
	for _, p := range hooks.progs {
		p.Close()
	}
	if !attached || len(logged) != 1 || !strings.Contains(logged[0], refused.Error()) {
		t.Errorf("send and receive hooks attached: %v, log %q: want both and one line with the error", attached, logged)
	}

	// A set that fails either way reports the first error.
	tries := 0
	_, err = attachSocketSetOrDegrade(spec, HookSetTpBtf, func(any) error {
		if tries++; tries == 1 {
			return refused
		}
		return refusedAgain
	}, false, logf)
	if !errors.Is(err, refused) || tries != 2 {
		t.Errorf("got %v after %d loads, want the error of the first of two", err, tries)
	}
}

// TestSetReceiveHook loads the probe with the receive hook detached, then
// attaches and detaches it, counting the kernel's links of the receive
// program: one while it is on, none while it is off or once the probe is
// closed, whatever the calls before.
func TestSetReceiveHook(t *testing.T) {
	p := loadAttached(t, Options{NoReceiveHook: true})
	if !p.HasReceiveHook() {
		t.Skipf("hook set %s: no socket layer to attach a receive hook of", p.HookSet())
	}
	var recv ebpf.ProgramID
	for _, prog := range p.progs {
		info, err := prog.Info()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(info.Name, "_recv") {
			recv, _ = info.ID()
		}
	}
	if recv == 0 {
		t.Fatal("no receive program among the probe's programs")
	}
	links := func() int {
		n := 0
		var it link.Iterator
		defer it.Close()
		for it.Next() {
			if info, err := it.Link.Info(); err == nil && info.Program == recv {
				n++
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(step string, want int) {
		t.Helper()
		if got := links(); got != want {
			t.Errorf("%s: %d links of the receive program, want %d", step, got, want)
		}
	}
	check("loaded with the hook off", 0)
	for _, step := range []struct {
		on   bool
		want int
	}{{true, 1}, {true, 1}, {false, 0}, {false, 0}, {true, 1}} {
		if err := p.SetReceiveHook(step.on); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("SetReceiveHook(%v)", step.on), step.want)
	}
	p.Close()
	check("closed", 0)
	if p.HasReceiveHook() || p.SetReceiveHook(true) != nil {
		t.Error("a closed probe still has a receive hook to attach")
	}
	check("SetReceiveHook(true) after Close", 0)
}
