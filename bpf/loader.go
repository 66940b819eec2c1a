//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Names of the socket-layer hook sets, in the order Load tries them.
const (
	HookSetTpBtf      = "tp_btf"
	HookSetTracepoint = "tracepoint"
	HookSetFentry     = "fentry"
	HookSetKprobe     = "kprobe"
)

// HookSets lists the socket-layer hook sets in order of preference.
var HookSets = []string{HookSetTpBtf, HookSetTracepoint, HookSetFentry, HookSetKprobe}

// Options configures Load.
type Options struct {
	// CgroupRoot is the cgroup2 mount the packet layer attaches to.
	CgroupRoot string
	// MaxFlows bounds each of the two kernel flow maps.
	MaxFlows int
	// SkipHookSets names socket-layer hook sets not to try.
	SkipHookSets []string
	// NoNetnsCookie makes the packet layer tell flows apart by their
	// owner's pid, as it does on kernels whose cgroup_skb programs cannot
	// read the network namespace's cookie (for tests).
	NoNetnsCookie bool
	// NoSlots makes the packet layer count every packet in the flow maps,
	// as it does on kernels that cannot give TCP sockets slots (for tests).
	NoSlots bool
	// SlotIdleReads is the number of Drains in a row that find nothing
	// counted in a slot before it is taken back from its socket. Default
	// 60.
	SlotIdleReads int
	// NoSeenSockets makes the socket layer look up the owner of the socket
	// on every send and receive, as it does on kernels whose tracing
	// programs cannot read a socket's cookie (for tests).
	NoSeenSockets bool
	// NoReceiveHook loads the socket layer's receive hook without
	// attaching it: SetReceiveHook attaches it when wanted. While it is
	// off, receives cost nothing, and a socket that a process only reads
	// from stays counted as the process that made it (for an accepted
	// socket, the listener's) or sent on it last.
	NoReceiveHook bool
	// Logf, when set, receives one line per hook set that failed.
	Logf func(format string, args ...any)
}

// Probe is the loaded and attached set of programs and maps.
type Probe struct {
	hookSet string
	links   []link.Link
	maps    mapObjects
	progs   []*ebpf.Program
	iter    *ebpf.Program
	// attachRecv attaches the socket layer's receive hook (nil when no
	// socket-layer set loaded, or once closed); recvLink is the attached
	// hook, if any. recvMu guards both.
	recvMu     sync.Mutex
	attachRecv func() (link.Link, error)
	recvLink   link.Link
	// count holds the packet programs of each flow map; countLinks attach
	// the pair of the active one, egress then ingress, as attachCount
	// expects (none in tests that only drain).
	count      [2]countProgs
	countLinks []link.Link
	// active is the flow map the programs count into: 0 = flows_a.
	active int
	// netnsScoped is true when flows are told apart by their network
	// namespace's cookie (else by their owner's pid).
	netnsScoped bool
	// flushSlots move the counters of the sockets' slots into flow map i;
	// nil where the packet layer does not count on slots. slotLink
	// attaches the sockops program, which hands out the slots.
	flushSlots [2]*ebpf.Program
	slotLink   link.Link
	ring       *ringbuf.Reader
	closed     sync.Once
	mu         sync.Mutex
	// drain is nil where the kernel cannot load the drain programs:
	// Drain then reads with the batched lookup syscall into keys and vals.
	drain    *drainObjects
	drainMem *ebpf.Memory
	// seenGen is the value of seen_gen: each Drain moves it, so no entry
	// of the socket layer's memory of sockets outlives its interval.
	seenGen uint32
	recs    []netflowFlowRec
	keys    []netflowFlowKey
	vals    []netflowFlowVal
	flows   []Flow
}

// drainObjects move the flows of a map out to the memory-mapped array
// drained, a chunk per run.
type drainObjects struct {
	Drained *ebpf.Map     `ebpf:"drained"`
	A       *ebpf.Program `ebpf:"drain_flows_a"`
	B       *ebpf.Program `ebpf:"drain_flows_b"`
}

func (d *drainObjects) close() {
	for _, c := range []io.Closer{d.A, d.B, d.Drained} {
		if c != nil {
			c.Close()
		}
	}
}

// drainChunk is the number of flows one run of a drain program moves. Each
// run walks every bucket of the map again (an empty walk of 65,536 buckets
// costs ~1 ms, in parallel with the conversion of the previous chunk). The
// drain array holds two chunks of 120-byte slots, and its memory mapping
// counts in the probe's resident memory whole: 1.9 MiB.
const drainChunk = 8192

type mapObjects struct {
	Owners      *ebpf.Map `ebpf:"owners"`
	FlowsA      *ebpf.Map `ebpf:"flows_a"`
	FlowsB      *ebpf.Map `ebpf:"flows_b"`
	Barrier     *ebpf.Map `ebpf:"barrier"`
	Stats       *ebpf.Map `ebpf:"stats"`
	Slots       *ebpf.Map `ebpf:"slots"`
	NextSlot    *ebpf.Map `ebpf:"next_slot"`
	SlotsUsed   *ebpf.Map `ebpf:"slots_used"`
	DNSEvents   *ebpf.Map `ebpf:"dns_events"`
	TupleOwners *ebpf.Map `ebpf:"tuple_owners"`
	SeenSocks   *ebpf.Map `ebpf:"seen_socks"`
	OwnerEpoch  *ebpf.Map `ebpf:"owner_epoch"`
	SeenGen     *ebpf.Map `ebpf:"seen_gen"`
}

func (m *mapObjects) replacements() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{
		"owners": m.Owners, "flows_a": m.FlowsA, "flows_b": m.FlowsB, "barrier": m.Barrier,
		"stats": m.Stats, "slots": m.Slots, "next_slot": m.NextSlot, "slots_used": m.SlotsUsed, "dns_events": m.DNSEvents, "tuple_owners": m.TupleOwners,
		"seen_socks": m.SeenSocks, "owner_epoch": m.OwnerEpoch, "seen_gen": m.SeenGen,
	}
}

func (m *mapObjects) close() {
	for _, mp := range []*ebpf.Map{m.Owners, m.FlowsA, m.FlowsB, m.Barrier, m.Stats, m.Slots, m.NextSlot, m.SlotsUsed, m.DNSEvents, m.TupleOwners, m.SeenSocks, m.OwnerEpoch, m.SeenGen} {
		if mp != nil {
			mp.Close()
		}
	}
}

type packetObjects struct {
	SockCreate *ebpf.Program `ebpf:"sock_create"`
	Iter       *ebpf.Program `ebpf:"iter_task_file"`
}

// slotObjects give established TCP sockets slots of their own to count in:
// the sockops program hands slots out and takes them back, and the flush
// programs move their counters into flows_a or flows_b.
type slotObjects struct {
	SockOps *ebpf.Program `ebpf:"sock_ops"`
	FlushA  *ebpf.Program `ebpf:"flush_slots_a"`
	FlushB  *ebpf.Program `ebpf:"flush_slots_b"`
}

// countProgs are the packet programs that count into one flow map.
type countProgs struct {
	egress, ingress *ebpf.Program
}

// netnsCountObjects key flows by their network namespace's cookie.
type netnsCountObjects struct {
	EgressA  *ebpf.Program `ebpf:"skb_egress_a"`
	IngressA *ebpf.Program `ebpf:"skb_ingress_a"`
	EgressB  *ebpf.Program `ebpf:"skb_egress_b"`
	IngressB *ebpf.Program `ebpf:"skb_ingress_b"`
}

// pidCountObjects key flows by their owner's pid, for kernels whose
// cgroup_skb programs cannot read the cookie.
type pidCountObjects struct {
	EgressA  *ebpf.Program `ebpf:"pid_egress_a"`
	IngressA *ebpf.Program `ebpf:"pid_ingress_a"`
	EgressB  *ebpf.Program `ebpf:"pid_egress_b"`
	IngressB *ebpf.Program `ebpf:"pid_ingress_b"`
}

// loadCount loads the packet programs of both flow maps.
func loadCount(netns bool, load func(any) error) ([2]countProgs, error) {
	if netns {
		var o netnsCountObjects
		err := load(&o)
		return [2]countProgs{{o.EgressA, o.IngressA}, {o.EgressB, o.IngressB}}, err
	}
	var o pidCountObjects
	err := load(&o)
	return [2]countProgs{{o.EgressA, o.IngressA}, {o.EgressB, o.IngressB}}, err
}

type tpBtfObjects struct {
	Send *ebpf.Program `ebpf:"tp_btf_send"`
	Recv *ebpf.Program `ebpf:"tp_btf_recv"`
}

type tracepointObjects struct {
	Send *ebpf.Program `ebpf:"tp_send"`
	Recv *ebpf.Program `ebpf:"tp_recv"`
}

type kprobeObjects struct {
	Send *ebpf.Program `ebpf:"kprobe_send"`
	Recv *ebpf.Program `ebpf:"kprobe_recv"`
}

type fentryObjects struct {
	Send *ebpf.Program `ebpf:"fentry_send"`
	Recv *ebpf.Program `ebpf:"fentry_recv"`
}

// ErrMissing wraps the errors that name a kernel feature the probe needs.
var ErrMissing = errors.New("kernel feature missing")

// CheckKernel returns an error naming what the kernel lacks for the probe:
// BTF type information or a cgroup2 mount at cgroupRoot.
func CheckKernel(cgroupRoot string) error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("%w: the kernel has no BTF type information (/sys/kernel/btf/vmlinux is missing); the probe needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or newer)", ErrMissing)
	}
	if cgroupRoot == "" {
		return fmt.Errorf("%w: no cgroup2 file system is mounted (looked at /sys/fs/cgroup and /sys/fs/cgroup/unified)", ErrMissing)
	}
	return nil
}

// Load loads the programs and maps, attaches the packet layer to the cgroup2
// root, the ownership hooks and the first socket-layer hook set that loads
// and attaches, and attributes the sockets that already exist.
func Load(opts Options) (_ *Probe, err error) {
	if err := CheckKernel(opts.CgroupRoot); err != nil {
		return nil, err
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil && opts.Logf != nil {
		opts.Logf("raising RLIMIT_MEMLOCK: %v", err)
	}
	spec, err := loadNetflow()
	if err != nil {
		return nil, fmt.Errorf("reading the eBPF object: %w", err)
	}
	if opts.MaxFlows <= 0 {
		opts.MaxFlows = 65536
	}
	for _, name := range []string{"flows_a", "flows_b"} {
		spec.Maps[name].MaxEntries = uint32(opts.MaxFlows)
	}
	if opts.SlotIdleReads > 0 {
		if err := spec.Variables["slot_idle_reads"].Set(uint32(opts.SlotIdleReads)); err != nil {
			return nil, fmt.Errorf("configuring the slots: %w", err)
		}
	}

	cache := btf.NewCache()
	p := &Probe{}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := spec.LoadAndAssign(&p.maps, &ebpf.CollectionOptions{Cache: cache}); err != nil {
		return nil, fmt.Errorf("creating the eBPF maps: %w", err)
	}
	load := func(objs any) error {
		return spec.LoadAndAssign(objs, &ebpf.CollectionOptions{Cache: cache, MapReplacements: p.maps.replacements()})
	}

	// The socket layer first: which set loads decides how the packet layer
	// finds owners.
	socketSet := ""
	for _, set := range HookSets {
		if slices.Contains(opts.SkipHookSets, set) {
			continue
		}
		hooks, err := attachSocketSetOrDegrade(spec, set, load, opts.NoSeenSockets, opts.Logf)
		if err != nil {
			if opts.Logf != nil {
				if errors.Is(err, unix.EPERM) {
					// cilium/ebpf's MEMLOCK hint misleads here: some
					// kernels refuse tracing programs outright.
					opts.Logf("hook set %s unavailable: the kernel refuses to load it (EPERM)", set)
				} else {
					opts.Logf("hook set %s unavailable: %v", set, err)
				}
			}
			continue
		}
		p.links = append(p.links, hooks.send)
		p.progs = append(p.progs, hooks.progs...)
		p.recvLink, p.attachRecv = hooks.recv, hooks.attachRecv
		socketSet = set
		break
	}
	if opts.NoReceiveHook {
		if err := p.SetReceiveHook(false); err != nil && opts.Logf != nil {
			opts.Logf("%v", err)
		}
	}
	p.netnsScoped = !opts.NoNetnsCookie && features.HaveProgramHelper(ebpf.CGroupSKB, asm.FnGetNetnsCookie) == nil
	if !p.netnsScoped && opts.Logf != nil {
		opts.Logf("kernel lacks bpf_get_netns_cookie in cgroup_skb: the packet layer looks up the owner of every packet (slower)")
	}
	// A slot's flow is keyed by the netns cookie.
	if p.netnsScoped && !opts.NoSlots {
		if err := p.attachSlots(load, opts.CgroupRoot); err != nil && opts.Logf != nil {
			opts.Logf("TCP sockets cannot count in slots, every packet looks up its flow (slower): %v", err)
		}
	}
	for name, v := range map[string]bool{
		"use_slots":                p.flushSlots[0] != nil,
		"use_tuple_owners":         socketSet == HookSetTracepoint,
		"have_mptcp_helper":        features.HaveProgramHelper(ebpf.CGroupSKB, asm.FnSkcToMptcpSock) == nil,
		"have_task_in_sock_create": features.HaveProgramHelper(ebpf.CGroupSock, asm.FnGetCurrentTaskBtf) == nil,
	} {
		if err := spec.Variables[name].Set(uint32(boolInt(v))); err != nil {
			return nil, fmt.Errorf("configuring the packet layer (%s): %w", name, err)
		}
		if !v && strings.HasPrefix(name, "have_") && opts.Logf != nil {
			opts.Logf("kernel lacks %s: degraded attribution", name)
		}
	}

	p.count, err = loadCount(p.netnsScoped, load)
	if err != nil && p.flushSlots[0] != nil {
		// The slot code is the newest part of the packet programs: should
		// the verifier refuse it, count without slots.
		if opts.Logf != nil {
			opts.Logf("the packet programs do not load with slots, every packet looks up its flow (slower): %v", err)
		}
		p.dropSlots()
		if err = spec.Variables["use_slots"].Set(uint32(0)); err == nil {
			p.count, err = loadCount(p.netnsScoped, load)
		}
	}
	for _, c := range p.count {
		for _, prog := range []*ebpf.Program{c.egress, c.ingress} {
			if prog != nil {
				p.progs = append(p.progs, prog)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading the packet-layer programs: %w", err)
	}
	// After the packet programs: use_slots is final by now, and the
	// iterator hands existing sockets slots only where they are used.
	var pkt packetObjects
	if err := load(&pkt); err != nil {
		return nil, fmt.Errorf("loading the packet-layer programs: %w", err)
	}
	p.progs = append(p.progs, pkt.SockCreate)
	p.iter = pkt.Iter
	for _, a := range []struct {
		prog *ebpf.Program
		typ  ebpf.AttachType
	}{
		{pkt.SockCreate, ebpf.AttachCGroupInetSockCreate},
		{p.count[0].egress, ebpf.AttachCGroupInetEgress},
		{p.count[0].ingress, ebpf.AttachCGroupInetIngress},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: opts.CgroupRoot, Attach: a.typ, Program: a.prog})
		if err != nil {
			return nil, fmt.Errorf("attaching %s to the cgroup2 root %s: %w", a.prog, opts.CgroupRoot, err)
		}
		p.links = append(p.links, l)
		if a.prog != pkt.SockCreate {
			p.countLinks = append(p.countLinks, l)
		}
	}
	p.hookSet = "cgroup_skb"
	if socketSet != "" {
		p.hookSet += "+" + socketSet
	}

	// With sock_create attached, no new socket goes unseen: now attribute
	// the ones that were there before.
	if err := p.AttributeExisting(); err != nil && opts.Logf != nil {
		opts.Logf("attributing existing sockets: %v", err)
	}

	if err := p.loadDrain(spec, load); err != nil && opts.Logf != nil {
		opts.Logf("reading flows with the batched lookup syscall (slower): the drain programs are unavailable: %v", err)
	}

	p.ring, err = ringbuf.NewReader(p.maps.DNSEvents)
	if err != nil {
		return nil, fmt.Errorf("opening the DNS ring buffer: %w", err)
	}
	return p, nil
}

// attachSlots loads the slot programs and attaches the sockops program,
// which hands out the slots.
func (p *Probe) attachSlots(load func(any) error, cgroupRoot string) error {
	ops, err := p.loadSlots(load)
	if err != nil {
		return err
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupRoot, Attach: ebpf.AttachCGroupSockOps, Program: ops})
	if err != nil {
		p.flushSlots = [2]*ebpf.Program{}
		return fmt.Errorf("attaching the sockops program to the cgroup2 root %s: %w", cgroupRoot, err)
	}
	p.links = append(p.links, l)
	p.slotLink = l
	return nil
}

// dropSlots detaches the sockops program: no socket gets a slot any more,
// and Drain no longer flushes them.
func (p *Probe) dropSlots() {
	if p.slotLink != nil {
		p.slotLink.Close()
		p.links = slices.DeleteFunc(p.links, func(l link.Link) bool { return l == p.slotLink })
		p.slotLink = nil
	}
	p.flushSlots = [2]*ebpf.Program{}
}

// loadSlots loads the slot programs: Drain runs the flush programs, and the
// sockops program, returned, is left to attach.
func (p *Probe) loadSlots(load func(any) error) (*ebpf.Program, error) {
	var o slotObjects
	if err := load(&o); err != nil {
		return nil, err
	}
	p.progs = append(p.progs, o.SockOps, o.FlushA, o.FlushB)
	p.flushSlots = [2]*ebpf.Program{o.FlushA, o.FlushB}
	return o.SockOps, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// socketHooks is a socket-layer hook set, loaded and attached.
type socketHooks struct {
	send, recv link.Link
	progs      []*ebpf.Program
	// attachRecv attaches the receive hook again once recv is closed.
	attachRecv func() (link.Link, error)
}

// attachSocketSetOrDegrade loads and attaches a socket-layer hook set. The
// BTF sets remember the sockets they found owned by the caller, known by
// their cookie, which tracing programs read from 5.12 on: on older kernels
// they load without that memory and look up the owner on every call.
func attachSocketSetOrDegrade(spec *ebpf.CollectionSpec, set string, load func(any) error, noSeen bool, logf func(string, ...any)) (*socketHooks, error) {
	v := spec.Variables["have_cookie_in_tracing"]
	if err := v.Set(uint32(boolInt(!noSeen))); err != nil {
		return nil, fmt.Errorf("configuring the socket layer: %w", err)
	}
	hooks, err := attachSocketSet(set, load)
	if err == nil || noSeen || (set != HookSetTpBtf && set != HookSetFentry) {
		return hooks, err
	}
	if v.Set(uint32(0)) != nil {
		return nil, err
	}
	hooks, errNoSeen := attachSocketSet(set, load)
	if errNoSeen != nil {
		return nil, err
	}
	if logf != nil {
		logf("hook set %s loads only without bpf_get_socket_cookie, every send and receive looks up its socket's owner (slower): %v", set, err)
	}
	return hooks, nil
}

// attachSocketSet loads a socket-layer hook set and attaches its send and
// receive hooks: a set whose receive hook does not attach is no more
// usable than one whose send hook does not, even where the receive hook is
// then detached.
func attachSocketSet(set string, load func(any) error) (*socketHooks, error) {
	var send, recv *ebpf.Program
	var attach func(prog *ebpf.Program, recv bool) (link.Link, error)
	tracing := func(prog *ebpf.Program, _ bool) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: prog})
	}
	var err error
	switch set {
	case HookSetTpBtf:
		var o tpBtfObjects
		err = load(&o)
		send, recv, attach = o.Send, o.Recv, tracing
	case HookSetFentry:
		var o fentryObjects
		err = load(&o)
		send, recv, attach = o.Send, o.Recv, tracing
	case HookSetTracepoint:
		var o tracepointObjects
		err = load(&o)
		send, recv = o.Send, o.Recv
		attach = func(prog *ebpf.Program, recv bool) (link.Link, error) {
			return link.Tracepoint("sock", pick(recv, "sock_recv_length", "sock_send_length"), prog, nil)
		}
	case HookSetKprobe:
		var o kprobeObjects
		err = load(&o)
		send, recv = o.Send, o.Recv
		attach = func(prog *ebpf.Program, recv bool) (link.Link, error) {
			return link.Kprobe(pick(recv, "sock_recvmsg", "sock_sendmsg"), prog, nil)
		}
	default:
		return nil, fmt.Errorf("unknown hook set %q", set)
	}
	if err != nil {
		return nil, err
	}
	h := &socketHooks{progs: []*ebpf.Program{send, recv}, attachRecv: func() (link.Link, error) { return attach(recv, true) }}
	if h.send, err = attach(send, false); err == nil {
		if h.recv, err = h.attachRecv(); err != nil {
			h.send.Close()
		}
	}
	if err != nil {
		send.Close()
		recv.Close()
		return nil, err
	}
	return h, nil
}

// pick returns a if cond holds, else b.
func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// SetReceiveHook attaches (on) or detaches the socket layer's receive hook.
// It does nothing where no socket-layer set loaded, or where the hook
// already is as asked.
func (p *Probe) SetReceiveHook(on bool) error {
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	switch {
	case p.attachRecv == nil || on == (p.recvLink != nil):
		return nil
	case on:
		l, err := p.attachRecv()
		if err != nil {
			return fmt.Errorf("attaching the receive hook: %w", err)
		}
		p.recvLink = l
	default:
		err := p.recvLink.Close()
		p.recvLink = nil
		if err != nil {
			return fmt.Errorf("detaching the receive hook: %w", err)
		}
	}
	return nil
}

// HasReceiveHook says whether the socket layer has a receive hook to attach.
func (p *Probe) HasReceiveHook() bool {
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	return p.attachRecv != nil
}

// HookSet names the active hooks, such as "cgroup_skb+tp_btf".
func (p *Probe) HookSet() string { return p.hookSet }

// MaxFlows is the capacity of one flow map.
func (p *Probe) MaxFlows() int { return int(p.maps.FlowsA.MaxEntries()) }

// loadDrain loads the drain programs and maps their output array.
func (p *Probe) loadDrain(spec *ebpf.CollectionSpec, load func(any) error) error {
	spec.Maps["drained"].MaxEntries = 2 * uint32(min(drainChunk, p.MaxFlows()))
	var d drainObjects
	if err := load(&d); err != nil {
		return err
	}
	mem, err := d.Drained.Memory()
	if err != nil {
		d.close()
		return fmt.Errorf("mapping the drain array: %w", err)
	}
	p.drain, p.drainMem = &d, mem
	return nil
}

// AttributeExisting runs the task_file iterator, which stores the owning
// process on every socket that has none yet.
func (p *Probe) AttributeExisting() error {
	it, err := link.AttachIter(link.IterOptions{Program: p.iter})
	if err != nil {
		return fmt.Errorf("attaching the task_file iterator: %w", err)
	}
	defer it.Close()
	rd, err := it.Open()
	if err != nil {
		return fmt.Errorf("running the task_file iterator: %w", err)
	}
	defer rd.Close()
	_, err = io.Copy(io.Discard, rd)
	return err
}

// Flow is one flow's counters since the previous Drain.
type Flow struct {
	Proto  uint8 // 6 (TCP) or 17 (UDP)
	Local  netip.AddrPort
	Remote netip.AddrPort
	// Netns tells flows of the same tuple in different network namespaces
	// apart (loopback in two pods); 0 on kernels that cannot, where the
	// owner's pid does.
	Netns     uint64
	PID       uint32
	Comm      string
	CgroupID  uint64 // cgroup v2 id
	CgroupV1  uint64 // cpu controller cgroup id, 0 when unknown
	TxBytes   uint64
	RxBytes   uint64
	TxPackets uint64
	RxPackets uint64
}

// Drain attaches the packet programs of the other flow map, waits until no
// program still counts into the previous one, moves into it what the
// previous programs counted in TCP sockets' slots, then reads and empties
// it (with a drain program where the kernel loads it, else with the batched
// lookup syscall), calling fn with the flows in chunks of a few thousand.
// fn must not keep the slice.
func (p *Probe) Drain(fn func([]Flow)) (entries int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Should this fail (an update of a one-element array), the socket
	// layer's entries last an interval longer.
	p.seenGen++
	_ = p.maps.SeenGen.Put(uint32(0), p.seenGen)
	prev := p.active
	old := p.maps.FlowsA
	if prev == 1 {
		old = p.maps.FlowsB
	}
	if err := p.attachCount(prev ^ 1); err != nil {
		return 0, err
	}
	p.active ^= 1
	// Replacing a map-of-maps element waits for running programs (the
	// kernel calls synchronize_rcu), so old gets no further updates. If
	// that fails, old is not read now: the next Drain switches back to it,
	// and its flows come out an interval late, not lost and not twice.
	if err := p.maps.Barrier.Put(uint32(0), p.maps.Stats); err != nil {
		return 0, fmt.Errorf("waiting for the packet programs of the previous interval: %w", err)
	}
	// The slots' counters of the previous programs go into old too.
	// Should that fail, they stay in their slots and come out with a later
	// interval.
	var flushErr error
	if prog := p.flushSlots[prev]; prog != nil {
		if _, err := prog.Run(&ebpf.RunOptions{}); err != nil {
			flushErr = fmt.Errorf("moving the counters of TCP sockets' slots: %w", err)
		}
	}

	if p.drain != nil {
		prog := p.drain.A
		if old == p.maps.FlowsB {
			prog = p.drain.B
		}
		entries, err = p.drainByProgram(prog, fn)
	} else {
		entries, err = p.drainByBatch(old, fn)
	}
	return entries, errors.Join(flushErr, err)
}

// attachCount replaces the attached packet programs with those of flow map
// i. A packet that is being counted when its link changes goes on with the
// program it started with.
func (p *Probe) attachCount(i int) error {
	progs := []*ebpf.Program{p.count[i].egress, p.count[i].ingress}
	prev := []*ebpf.Program{p.count[i^1].egress, p.count[i^1].ingress}
	for j, l := range p.countLinks {
		if err := l.Update(progs[j]); err != nil {
			// Put back the ones already replaced: both directions count
			// into the same map. Should that fail too, the next Drain
			// attaches both again; the flows counted meanwhile come out
			// with a later interval.
			for k := range j {
				_ = p.countLinks[k].Update(prev[k])
			}
			return fmt.Errorf("switching flow maps: %w", err)
		}
	}
	return nil
}

// readChunk is the number of flows Drain hands to fn at a time.
const readChunk = 4096

// drainByProgram runs a drain program until it has moved every flow out of
// the map. The drain array has two halves: while fn works through the
// flows of one, the next run fills the other.
func (p *Probe) drainByProgram(prog *ebpf.Program, fn func([]Flow)) (entries int, err error) {
	half := int(p.drain.Drained.MaxEntries()) / 2
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	start := func(base int) {
		go func() {
			n, err := prog.Run(&ebpf.RunOptions{Context: netflowDrainArgs{Base: uint32(base), Limit: uint32(half)}})
			done <- result{int(n), err}
		}()
	}
	// Each run empties up to half's worth of the map; a map that does not
	// empty means deletes fail, and its flows wait for the next read.
	maxRuns := p.MaxFlows()/half + 2
	base := 0
	start(base)
	for runs := 1; ; runs++ {
		r := <-done
		if r.err != nil {
			return entries, fmt.Errorf("reading flows: %w", r.err)
		}
		more := r.n == half && runs < maxRuns
		if more {
			start(half - base)
		}
		err := p.readDrained(base, r.n, fn)
		entries += r.n
		if err != nil {
			if more {
				<-done
			}
			return entries, err
		}
		if r.n < half {
			return entries, nil
		}
		if !more {
			return entries, fmt.Errorf("reading flows: the flow map did not empty after %d runs of the drain program", runs)
		}
		base = half - base
	}
}

// readDrained hands the n flows at slot base of the drain array to fn, in
// chunks.
func (p *Probe) readDrained(base, n int, fn func([]Flow)) error {
	if p.recs == nil {
		p.recs = make([]netflowFlowRec, readChunk)
		p.flows = make([]Flow, readChunk)
	}
	for off := 0; off < n; off += readChunk {
		recs := p.recs[:min(readChunk, n-off)]
		if _, err := p.drainMem.ReadAt(recBytes(recs), int64(base+off)*int64(unsafe.Sizeof(recs[0]))); err != nil {
			return fmt.Errorf("reading flows: %w", err)
		}
		for i := range recs {
			toFlow(&recs[i].Key, &recs[i].Val, &p.flows[i], p.netnsScoped)
		}
		fn(p.flows[:len(recs)])
	}
	return nil
}

// recBytes is the memory of recs, which holds fixed-size fields only, as
// bytes: the drain array's slots have the same layout.
func recBytes(recs []netflowFlowRec) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(recs))), len(recs)*int(unsafe.Sizeof(recs[0])))
}

// drainByBatch reads and empties m with the batched lookup-and-delete
// syscall.
func (p *Probe) drainByBatch(m *ebpf.Map, fn func([]Flow)) (entries int, err error) {
	if p.keys == nil {
		p.keys = make([]netflowFlowKey, readChunk)
		p.vals = make([]netflowFlowVal, readChunk)
		p.flows = make([]Flow, readChunk)
	}
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookupAndDelete(&cursor, p.keys, p.vals, nil)
		for i := range n {
			toFlow(&p.keys[i], &p.vals[i], &p.flows[i], p.netnsScoped)
		}
		if n > 0 {
			fn(p.flows[:n])
		}
		entries += n
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return entries, nil
		}
		if err != nil {
			return entries, fmt.Errorf("reading flows: %w", err)
		}
	}
}

// InjectFlows adds fs to the flow map the programs count into, as if they
// had counted them: benchmarks and tests feed the collector with it.
func (p *Probe) InjectFlows(fs []Flow) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.maps.FlowsA
	if p.active == 1 {
		m = p.maps.FlowsB
	}
	keys := make([]netflowFlowKey, len(fs))
	vals := make([]netflowFlowVal, len(fs))
	for i := range fs {
		f := &fs[i]
		k, v := &keys[i], &vals[i]
		k.Proto = f.Proto
		k.Laddr, k.Raddr = f.Local.Addr().As16(), f.Remote.Addr().As16()
		k.Lport, k.Rport = f.Local.Port(), f.Remote.Port()
		k.Scope = f.Netns
		if !p.netnsScoped {
			k.Scope = uint64(f.PID)
		}
		v.Pid, v.Cgid, v.CgidV1 = f.PID, f.CgroupID, f.CgroupV1
		for j := 0; j < len(v.Comm)-1 && j < len(f.Comm); j++ {
			v.Comm[j] = int8(f.Comm[j])
		}
		v.TxBytes, v.RxBytes, v.TxPackets, v.RxPackets = f.TxBytes, f.RxBytes, f.TxPackets, f.RxPackets
	}
	if len(fs) == 0 {
		return nil
	}
	_, err := m.BatchUpdate(keys, vals, nil)
	return err
}

func toFlow(k *netflowFlowKey, v *netflowFlowVal, f *Flow, netnsScoped bool) {
	f.Proto = k.Proto
	f.Local = netip.AddrPortFrom(netip.AddrFrom16(k.Laddr).Unmap(), k.Lport)
	f.Remote = netip.AddrPortFrom(netip.AddrFrom16(k.Raddr).Unmap(), k.Rport)
	f.PID = v.Pid
	f.Netns = 0
	if netnsScoped {
		f.Netns = k.Scope
	}
	f.Comm = commString(v.Comm)
	f.CgroupID = v.Cgid
	f.CgroupV1 = v.CgidV1
	f.TxBytes, f.RxBytes = v.TxBytes, v.RxBytes
	f.TxPackets, f.RxPackets = v.TxPackets, v.RxPackets
}

// commCache interns process names: a node has few, and flows repeat them.
var commCache sync.Map

func commString(c [16]int8) string {
	var b [16]byte
	n := 0
	for ; n < len(c) && c[n] != 0; n++ {
		b[n] = byte(c[n])
	}
	if s, ok := commCache.Load(b); ok {
		return s.(string)
	}
	s := strings.Clone(string(b[:n]))
	commCache.Store(b, s)
	return s
}

// Counters are the kernel's cumulative loss counters.
type Counters struct {
	LostFlows uint64
	RingDrops uint64
}

// Counters sums the per-CPU loss counters.
func (p *Probe) Counters() (Counters, error) {
	var c Counters
	for idx, dst := range []*uint64{&c.LostFlows, &c.RingDrops} {
		var per []uint64
		if err := p.maps.Stats.Lookup(uint32(idx), &per); err != nil {
			return c, fmt.Errorf("reading loss counters: %w", err)
		}
		for _, v := range per {
			*dst += v
		}
	}
	return c, nil
}

// DNSMessage is a DNS response a local socket received.
type DNSMessage struct {
	PID      uint32
	CgroupID uint64
	CgroupV1 uint64
	TCP      bool
	// Data is the start of the message (up to 1 KiB); for TCP it begins
	// with the two-byte length prefix when the segment starts a message.
	Data []byte
}

// ReadDNS blocks until the kernel reports a DNS response, or the probe is
// closed (then it returns an error wrapping os.ErrClosed).
func (p *Probe) ReadDNS(rec *ringbuf.Record, m *DNSMessage) error {
	if err := p.ring.ReadInto(rec); err != nil {
		if errors.Is(err, ringbuf.ErrClosed) {
			return fmt.Errorf("reading DNS events: %w", os.ErrClosed)
		}
		return fmt.Errorf("reading DNS events: %w", err)
	}
	const hdr = 8 + 8 + 4 + 2 + 1 + 1
	raw := rec.RawSample
	if len(raw) < hdr {
		return fmt.Errorf("short DNS event (%d bytes)", len(raw))
	}
	le := func(b []byte) uint64 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	m.CgroupID = le(raw[0:8])
	m.CgroupV1 = le(raw[8:16])
	m.PID = uint32(le(raw[16:20]))
	n := int(le(raw[20:22]))
	m.TCP = raw[22] == 6
	m.Data = raw[hdr:min(len(raw), hdr+n)]
	return nil
}

// Close detaches every program and frees the maps. It is safe to call more
// than once.
func (p *Probe) Close() error {
	p.closed.Do(func() {
		if p.ring != nil {
			p.ring.Close()
		}
		p.recvMu.Lock()
		if p.recvLink != nil {
			p.recvLink.Close()
		}
		p.attachRecv, p.recvLink = nil, nil
		p.recvMu.Unlock()
		for i := len(p.links) - 1; i >= 0; i-- {
			p.links[i].Close()
		}
		for _, prog := range p.progs {
			if prog != nil {
				prog.Close()
			}
		}
		if p.iter != nil {
			p.iter.Close()
		}
		if p.drain != nil {
			p.drain.close()
		}
		p.maps.close()
	})
	return nil
}
