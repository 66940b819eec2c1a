//go:build linux

package collector

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
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
	flows    map[tupleID]*flowState
	interval uint64
	batch    []batchFlow

	wg     sync.WaitGroup
	closed sync.Once
}

// tupleID is a flow's socket tuple in a compact, flat form: the map of
// remembered state is looked up once per flow and interval.
type tupleID struct {
	local, remote [16]byte
	lport, rport  uint16
	proto         uint8
}

func tupleOf(f *bpf.Flow) tupleID {
	return tupleID{
		local: f.Local.Addr().As16(), remote: f.Remote.Addr().As16(),
		lport: f.Local.Port(), rport: f.Remote.Port(), proto: f.Proto,
	}
}

// batchFlow is a flow of the interval and its remembered state; merged
// marks an unattributed flow whose counters moved to the owned flow of the
// same tuple.
type batchFlow struct {
	bpf.Flow
	st     *flowState
	merged bool
}

type flowState struct {
	lastSeen uint64
	// The owner last seen on the tuple, and where its flow sits in the
	// current batch (batch == interval).
	pid      uint32
	comm     string
	cgid     uint64
	cgidV1   uint64
	batch    uint64
	batchIdx int

	container string
	// containerFinal is false while the cgroup id is not resolved yet.
	containerFinal bool
	domain         string
	svc            netip.AddrPort // the original destination when translated
	backend        netip.AddrPort
	ctDone         bool
	// Address strings, made once per flow.
	addr, dstAddr string
}

const (
	// forgetAfter is how many intervals a flow may stay silent before its
	// remembered state is dropped.
	forgetAfter = 60
	// maxConntrackPerCollect bounds the conntrack queries of one Collect;
	// the rest wait for the next interval.
	maxConntrackPerCollect = 2000
)

// New loads and attaches the probe's eBPF programs. It fails with an error
// naming what is missing when the kernel lacks BTF or cgroup2, or when no
// program set can be attached.
func New(cfg Config) (*Collector, error) {
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = detectCgroupRoot()
	} else if !isFS(cfg.CgroupRoot, unix.CGROUP2_SUPER_MAGIC) {
		return nil, fmt.Errorf("%s is not a cgroup2 mount: the probe attaches to the cgroup2 root", cfg.CgroupRoot)
	}
	if cfg.CgroupV1CPURoot == "" {
		cfg.CgroupV1CPURoot = detectCPUV1Root()
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 65536
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p, err := bpf.Load(bpf.Options{
		CgroupRoot:   cfg.CgroupRoot,
		MaxFlows:     cfg.MaxFlows,
		SkipHookSets: cfg.SkipHookSets,
		Logf:         logf,
	})
	if err != nil {
		return nil, fmt.Errorf("loading the eBPF probe: %w", err)
	}
	c := &Collector{
		cfg:     cfg,
		probe:   p,
		cgroups: newCgroupResolver(cfg.CgroupRoot, cfg.CgroupV1CPURoot),
		dns:     newDNSCache(cfg.DNSCacheSize),
		flows:   make(map[tupleID]*flowState),
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
	return c, nil
}

// HookSet implements probe.Source: "cgroup_skb+tp_btf" and the like.
func (c *Collector) HookSet() string { return c.probe.HookSet() }

// Collect implements probe.Source.
func (c *Collector) Collect(ctx context.Context) ([]flow.Record, probe.Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, probe.Stats{}, err
	}
	c.interval++
	now := time.Now()
	ctBudget := maxConntrackPerCollect
	c.batch = c.batch[:0]
	entries, err := c.probe.Drain(func(f *bpf.Flow) { c.batch = append(c.batch, batchFlow{Flow: *f}) })
	if err != nil {
		return nil, probe.Stats{}, err
	}
	c.attributeOrphans()
	recs := make([]flow.Record, 0, len(c.batch))
	for i := range c.batch {
		if f := &c.batch[i]; !f.merged {
			recs = append(recs, c.record(f, now, &ctBudget))
		}
	}
	c.forget()
	counters, err := c.probe.Counters()
	if err != nil {
		return nil, probe.Stats{}, err
	}
	return recs, probe.Stats{
		Flows:       len(recs),
		MapEntries:  entries,
		MapCapacity: c.probe.MaxFlows(),
		LostFlows:   counters.LostFlows,
		RingDrops:   counters.RingDrops,
	}, nil
}

// attributeOrphans gives the packets the kernel could not attribute (pid 0)
// to the process that owns the same tuple in this interval, or did in an
// earlier one. It looks each flow's state up once.
func (c *Collector) attributeOrphans() {
	orphans := false
	for i := range c.batch {
		f := &c.batch[i]
		if f.PID == 0 {
			orphans = true
			continue
		}
		st := c.state(f)
		st.pid, st.comm, st.cgid, st.cgidV1 = f.PID, f.Comm, f.CgroupID, f.CgroupV1
		st.batch, st.batchIdx = c.interval, i
	}
	if !orphans {
		return
	}
	for i := range c.batch {
		f := &c.batch[i]
		if f.PID != 0 {
			continue
		}
		st := c.state(f)
		switch {
		case st.batch == c.interval:
			o := &c.batch[st.batchIdx]
			o.TxBytes += f.TxBytes
			o.RxBytes += f.RxBytes
			o.TxPackets += f.TxPackets
			o.RxPackets += f.RxPackets
			f.merged = true
		case st.pid != 0:
			f.PID, f.Comm, f.CgroupID, f.CgroupV1 = st.pid, st.comm, st.cgid, st.cgidV1
		}
	}
}

// state returns the remembered state of f's tuple, created on first sight.
func (c *Collector) state(f *batchFlow) *flowState {
	t := tupleOf(&f.Flow)
	st := c.flows[t]
	if st == nil {
		st = &flowState{addr: f.Local.Addr().String(), dstAddr: f.Remote.Addr().String()}
		c.flows[t] = st
	}
	f.st = st
	return st
}

func (c *Collector) record(bf *batchFlow, now time.Time, ctBudget *int) flow.Record {
	f := &bf.Flow
	st := bf.st
	if st == nil {
		st = c.state(bf)
	}
	if !st.containerFinal {
		st.container, st.containerFinal = c.cgroups.ContainerID(f.CgroupID, f.CgroupV1)
	}
	st.lastSeen = c.interval
	if st.domain == "" {
		st.domain = c.dns.Lookup(st.container, f.Remote.Addr())
	}
	// Only the connecting side of a flow can have a translated
	// destination: skip flows whose remote port is the ephemeral one.
	if !st.ctDone && c.ct != nil && f.Remote.Port() < f.Local.Port() && *ctBudget > 0 {
		*ctBudget--
		st.ctDone = true
		if svc, backend, ok, err := c.ct.Translate(f.Proto, f.Local, f.Remote); err == nil && ok {
			st.svc, st.backend = svc, backend
		}
	}
	r := flow.Record{
		TS:          now,
		Protocol:    protocolName(f.Proto),
		Process:     f.Comm,
		PID:         int64(f.PID),
		Addr:        st.addr,
		Port:        int64(f.Local.Port()),
		DstAddr:     st.dstAddr,
		DstPort:     int64(f.Remote.Port()),
		DstDomain:   st.domain,
		ContainerID: st.container,
		TxBytes:     int64(f.TxBytes),
		RxBytes:     int64(f.RxBytes),
		TxPackets:   int64(f.TxPackets),
		RxPackets:   int64(f.RxPackets),
	}
	if st.backend.IsValid() {
		r.DstSvcAddr, r.DstSvcPort = st.svc.Addr().String(), int64(st.svc.Port())
		r.DstAddr, r.DstPort = st.backend.Addr().String(), int64(st.backend.Port())
		if r.DstDomain == "" {
			r.DstDomain = c.dns.Lookup(st.container, st.backend.Addr())
		}
	}
	return r
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
	if len(c.flows) > 4*c.cfg.MaxFlows {
		silent = 1
	} else if c.interval%16 != 0 {
		return
	}
	for id, st := range c.flows {
		if c.interval-st.lastSeen > silent {
			delete(c.flows, id)
		}
	}
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
		err = c.probe.Close()
		c.wg.Wait()
		if c.ct != nil {
			c.ct.Close()
		}
	})
	return err
}
