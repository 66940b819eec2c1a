//go:build linux

package collector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/kubectl-netflow/kubectl-netflow/bpf"
	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// Collector collects the flows of every network namespace of the node.
// Collect must not be called concurrently.
type Collector struct {
	cfg     Config
	probe   *bpf.Probe
	cgroups *cgroupResolver
	dns     *dnsCache
	ct      *conntrackResolver

	// flows remembers, per socket tuple, what was learned about a flow:
	// its owner (for packets the kernel could not attribute: those of a
	// connection not yet accepted, or already closed), its container, DNS
	// name and Service translation. A name whose TTL ran out during a long
	// connection stays on its records.
	flows     *flowTable
	interval  uint64
	lastFlows int
	orphans   []bpf.Flow
	// recs is the slice of the last records returned, reused by the next
	// Collect.
	recs []flow.Record
	// Scratch space for one chunk of drained flows.
	ids []tupleID
	sts []*flowState

	// stop ends the goroutine of the sampled receive hook.
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

type flowState struct {
	id       tupleID
	lastSeen uint64
	// The owner last seen on the tuple, and where its record sits in the
	// current interval (batch == interval).
	pid      uint32
	comm     string
	batch    uint64
	batchIdx int

	container string
	// containerFinal is false while the cgroup id is not resolved yet.
	containerFinal bool
	ctDone         bool
	dnsTries       uint8
	domain         string
	svc            *serviceTranslation
	// Address strings, made once per flow.
	addr, dstAddr string
}

// serviceTranslation is what conntrack said about a flow to a Service.
type serviceTranslation struct {
	addr, backend     string
	port, backendPort int64
}

const (
	// forgetAfter is how many intervals a flow may stay silent before its
	// remembered state is dropped.
	forgetAfter = 60
	// conntrackBudget bounds the time one Collect spends waiting for
	// conntrack's answers about new flows (one or two netlink round trips each, ~85 µs for a
	// flow conntrack does not know: a few hundred flows); the rest wait for
	// the next interval.
	conntrackBudget = 20 * time.Millisecond
)

// New loads and attaches the probe's eBPF programs: the packet layer on
// the cgroup2 root and the first socket-layer hook set that loads (none is
// required; HookSet reports the result). It fails with an error naming what
// is missing when the kernel lacks BTF or cgroup2, or when the packet layer
// cannot be attached.
func New(cfg Config) (*Collector, error) {
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = detectCgroupRoot()
	} else if !isFS(cfg.CgroupRoot, unix.CGROUP2_SUPER_MAGIC) {
		return nil, fmt.Errorf("%s is not a cgroup2 mount: the probe attaches to the cgroup2 root", cfg.CgroupRoot)
	}
	// The root cgroup's directory is inode 1. Anything else is a subtree
	// (a container's cgroup namespace, a bind mount of a sub-cgroup): the
	// probe would see only the traffic of that subtree.
	if cfg.CgroupRoot != "" {
		if ino := inode(cfg.CgroupRoot); ino != 1 {
			return nil, fmt.Errorf("%s is not the root of the cgroup2 hierarchy (inode %d): the probe would only see the processes below it; mount the host's cgroup2 (for a pod, a hostPath volume of /sys/fs/cgroup) and set the cgroup root to it", cfg.CgroupRoot, ino)
		}
	}
	if cfg.CgroupV1CPURoot == "" {
		cfg.CgroupV1CPURoot = detectCPUV1Root()
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 65536
	}
	if cfg.ReceiveHook == "" {
		cfg.ReceiveHook = probe.ReceiveHookSampled
	}
	if _, err := probe.ParseReceiveHook(string(cfg.ReceiveHook)); err != nil {
		return nil, err
	}
	if cfg.ReceiveSamplePeriod <= 0 {
		cfg.ReceiveSamplePeriod = time.Second
	}
	if cfg.ReceiveSampleWindow <= 0 {
		cfg.ReceiveSampleWindow = 100 * time.Millisecond
	}
	if cfg.ReceiveSampleWindow > cfg.ReceiveSamplePeriod {
		return nil, fmt.Errorf("receive sample window %v is longer than its period %v", cfg.ReceiveSampleWindow, cfg.ReceiveSamplePeriod)
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p, err := bpf.Load(bpf.Options{
		CgroupRoot:    cfg.CgroupRoot,
		MaxFlows:      cfg.MaxFlows,
		SkipHookSets:  cfg.SkipHookSets,
		NoNetnsCookie: cfg.NoNetnsCookie,
		NoSlots:       cfg.NoSlots,
		NoSeenSockets: cfg.NoSeenSockets,
		NoReceiveHook: cfg.ReceiveHook != probe.ReceiveHookAlways,
		Logf:          logf,
	})
	if err != nil {
		return nil, fmt.Errorf("loading the eBPF probe: %w", err)
	}
	c := &Collector{
		cfg:     cfg,
		probe:   p,
		cgroups: newCgroupResolver(cfg.CgroupRoot, cfg.CgroupV1CPURoot),
		dns:     newDNSCache(cfg.DNSCacheSize),
		flows:   newFlowTable(),
		stop:    make(chan struct{}),
	}
	if !cfg.DisableConntrack {
		ct, err := newConntrackResolver(cfg.ConntrackNetns)
		if err != nil {
			// Service translation is best effort: records keep the
			// ClusterIP.
			logf("service translation off: %v", err)
		} else {
			c.ct = ct
		}
	}
	c.wg.Add(1)
	go c.readDNS()
	if cfg.ReceiveHook == probe.ReceiveHookSampled && p.HasReceiveHook() {
		c.wg.Add(1)
		go c.sampleReceives(logf)
	}
	return c, nil
}

// HookSet implements probe.Source: "cgroup_skb+tp_btf" and the like,
// with the receive hook's mode unless it is always attached, as in
// "cgroup_skb+tp_btf(receive-sampled)".
func (c *Collector) HookSet() string {
	set := c.probe.HookSet()
	if !c.probe.HasReceiveHook() {
		return set
	}
	switch c.cfg.ReceiveHook {
	case probe.ReceiveHookSampled:
		return set + "(receive-sampled)"
	case probe.ReceiveHookOff:
		return set + "(send-only)"
	}
	return set
}

// sampleReceives attaches the receive hook for a window of every period,
// at a random place in it, so that no process reading at a steady pace
// falls between the windows every time.
func (c *Collector) sampleReceives(logf func(string, ...any)) {
	defer c.wg.Done()
	period, window := c.cfg.ReceiveSamplePeriod, c.cfg.ReceiveSampleWindow
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-c.stop:
			return false
		}
	}
	for {
		before := time.Duration(rand.Int64N(int64(period-window) + 1))
		if !wait(before) {
			return
		}
		if err := c.probe.SetReceiveHook(true); err != nil {
			logf("sampled receive hook: %v; receives stay unhooked", err)
			return
		}
		ok := wait(window)
		if err := c.probe.SetReceiveHook(false); err != nil {
			logf("sampled receive hook: %v", err)
		}
		if !ok || !wait(period-window-before) {
			return
		}
	}
}

// Collect implements probe.Source.
func (c *Collector) Collect(ctx context.Context) ([]flow.Record, probe.Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, probe.Stats{}, err
	}
	// The records come back even with an error: their flows have left the
	// kernel.
	recs, entries, err := c.records(time.Now(), c.probe.Drain)
	counters, cerr := c.probe.Counters()
	return recs, probe.Stats{
		Flows:       len(recs),
		MapEntries:  entries,
		MapCapacity: c.probe.MaxFlows(),
		LostFlows:   counters.LostFlows,
		RingDrops:   counters.RingDrops,
	}, errors.Join(err, cerr)
}

// records turns the flows that drain yields into the interval's records;
// when drain fails, into those of the flows it yielded before.
func (c *Collector) records(now time.Time, drain func(func([]bpf.Flow)) (int, error)) ([]flow.Record, int, error) {
	c.interval++
	ctLeft := conntrackBudget
	// The records of the previous interval are no longer in use (see
	// probe.Source): reuse their slice, so a busy node does not allocate
	// (and collect) tens of megabytes per interval. Size for the last
	// interval, so the slice rarely grows.
	recs := c.recs[:0]
	if want := c.lastFlows + c.lastFlows/8; cap(recs) < want || cap(recs) > 4*want+1024 {
		recs = make([]flow.Record, 0, want)
	}
	if recs == nil {
		// The first interval: room for a full map. Pages the records do
		// not reach cost no memory, and 50,000 flows do not leave a trail
		// of outgrown slices behind (the probe's peak memory).
		recs = make([]flow.Record, 0, min(c.cfg.MaxFlows, 1<<16))
	}
	c.orphans = c.orphans[:0]
	entries, drainErr := drain(func(fs []bpf.Flow) {
		// Grow by doubling, before the chunk: at 50,000 flows append's
		// gentler growth leaves several copies of a 20 MB slice behind
		// in the first interval, which set the probe's peak memory.
		if need := len(recs) + len(fs); need > cap(recs) {
			grown := make([]flow.Record, len(recs), max(need, 2*cap(recs)))
			copy(grown, recs)
			recs = grown
		}
		// Look up the remembered state of the whole chunk first: in a
		// tight loop the CPU overlaps the cache misses of the lookups.
		c.ids, c.sts = c.ids[:0], c.sts[:0]
		for i := range fs {
			c.ids = append(c.ids, tupleOf(&fs[i]))
		}
		c.sts = c.flows.getAll(c.ids, c.sts)
		for i := range fs {
			f := &fs[i]
			if f.PID == 0 {
				c.orphans = append(c.orphans, *f)
				continue
			}
			st := c.sts[i]
			if st == nil {
				// New, or created for the same tuple earlier in the chunk.
				st = c.state(f)
			}
			st.pid, st.comm = f.PID, f.Comm
			st.batch, st.batchIdx = c.interval, len(recs)
			recs = append(recs, flow.Record{})
			c.fill(&recs[len(recs)-1], f, st, now, &ctLeft)
		}
	})
	// Packets the kernel could not attribute (pid 0) go to the process that
	// owns the same tuple in this interval, or did in an earlier one.
	recs = slices.Grow(recs, len(c.orphans))
	for i := range c.orphans {
		f := &c.orphans[i]
		st := c.state(f)
		if st.batch == c.interval {
			r := &recs[st.batchIdx]
			r.TxBytes += int64(f.TxBytes)
			r.RxBytes += int64(f.RxBytes)
			r.TxPackets += int64(f.TxPackets)
			r.RxPackets += int64(f.RxPackets)
			continue
		}
		if st.pid != 0 {
			f.PID, f.Comm = st.pid, st.comm
		}
		recs = append(recs, flow.Record{})
		c.fill(&recs[len(recs)-1], f, st, now, &ctLeft)
	}
	// Drop what the unused tail still points to.
	if n := len(c.recs); n > len(recs) && cap(recs) >= n {
		clear(recs[len(recs):n])
	}
	c.recs = recs
	c.lastFlows = len(recs)
	c.forget()
	return recs, entries, drainErr
}

// state returns the remembered state of f's tuple, created on first sight.
func (c *Collector) state(f *bpf.Flow) *flowState {
	id := tupleOf(f)
	st := c.flows.get(id)
	if st == nil {
		st = &flowState{id: id, addr: f.Local.Addr().String(), dstAddr: f.Remote.Addr().String()}
		c.flows.add(st)
	}
	return st
}

// fill sets r, a zero record, to the flow f with remembered state st.
func (c *Collector) fill(r *flow.Record, f *bpf.Flow, st *flowState, now time.Time, ctLeft *time.Duration) {
	if !st.containerFinal {
		st.container, st.containerFinal = c.cgroups.ContainerID(f.CgroupID, f.CgroupV1)
	}
	st.lastSeen = c.interval
	// The answer comes before the connection: look for a name during the
	// flow's first intervals only.
	if st.domain == "" && st.dnsTries < 3 {
		st.dnsTries++
		st.domain = c.dns.Lookup(st.container, f.Remote.Addr())
	}
	// Only the connecting side of a flow can have a translated
	// destination: skip flows whose remote port is the ephemeral one.
	if !st.ctDone && c.ct != nil && f.Remote.Port() < f.Local.Port() && *ctLeft > 0 {
		st.ctDone = true
		t0 := time.Now()
		svc, backend, ok, err := c.ct.Translate(f.Proto, f.Local, f.Remote)
		*ctLeft -= time.Since(t0)
		if err == nil && ok {
			st.svc = &serviceTranslation{
				addr: svc.Addr().String(), port: int64(svc.Port()),
				backend: backend.Addr().String(), backendPort: int64(backend.Port()),
			}
			if st.domain == "" {
				st.domain = c.dns.Lookup(st.container, backend.Addr())
			}
		}
	}
	r.TS = now
	r.Protocol = protocolName(f.Proto)
	r.Process = f.Comm
	r.PID = int64(f.PID)
	r.Addr, r.Port = st.addr, int64(f.Local.Port())
	r.DstAddr, r.DstPort = st.dstAddr, int64(f.Remote.Port())
	r.DstDomain = st.domain
	r.ContainerID = st.container
	r.TxBytes, r.RxBytes = int64(f.TxBytes), int64(f.RxBytes)
	r.TxPackets, r.RxPackets = int64(f.TxPackets), int64(f.RxPackets)
	if t := st.svc; t != nil {
		r.DstSvcAddr, r.DstSvcPort = t.addr, t.port
		r.DstAddr, r.DstPort = t.backend, t.backendPort
	}
}

func protocolName(p uint8) string {
	if p == 17 {
		return flow.ProtocolUDP
	}
	return flow.ProtocolTCP
}

// forget drops the state of flows that have been silent for a while, and
// of all silent flows when a node churns through many short connections.
func (c *Collector) forget() {
	silent := uint64(forgetAfter)
	if c.flows.len() > 4*c.cfg.MaxFlows {
		silent = 1
	} else if c.interval%16 != 0 {
		return
	}
	c.flows.deleteIf(func(st *flowState) bool { return c.interval-st.lastSeen > silent })
}

// readDNS feeds the DNS answers the kernel hands over into the cache.
func (c *Collector) readDNS() {
	defer c.wg.Done()
	var rec ringbuf.Record
	var m bpf.DNSMessage
	for {
		if err := c.probe.ReadDNS(&rec, &m); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		data := m.Data
		if m.TCP {
			// DNS over TCP prefixes each message with its length.
			if len(data) < 2 {
				continue
			}
			data = data[2:]
		}
		container, _ := c.cgroups.ContainerID(m.CgroupID, m.CgroupV1)
		c.dns.AddMessage(container, data)
	}
}

// Close implements probe.Source: it detaches every program and frees the
// kernel maps.
func (c *Collector) Close() error {
	var err error
	c.closed.Do(func() {
		close(c.stop)
		err = c.probe.Close()
		c.wg.Wait()
		if c.ct != nil {
			c.ct.Close()
		}
	})
	return err
}
