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

	// flows remembers what was learned about a flow (its DNS name, its
	// Service translation) for as long as it keeps sending, so a name whose
	// TTL ran out during a long connection stays on its records.
	flows    map[flowID]*flowState
	interval uint64
	// owners remembers the owner of each socket tuple, for packets the
	// kernel could not attribute (those of a connection not yet accepted,
	// or already closed).
	owners map[tupleID]*tupleOwner
	batch  []orphanFlow
	index  map[tupleID]int

	wg     sync.WaitGroup
	closed sync.Once
}

type flowID struct {
	proto         uint8
	local, remote netip.AddrPort
	pid           uint32
}

type tupleID struct {
	proto         uint8
	local, remote netip.AddrPort
}

type tupleOwner struct {
	pid      uint32
	comm     string
	cgid     uint64
	cgidV1   uint64
	lastSeen uint64
}

// orphanFlow is a flow of the interval, marked when its counters moved to
// the owned flow of the same tuple.
type orphanFlow struct {
	bpf.Flow
	Merged bool
}

type flowState struct {
	lastSeen  uint64
	container string
	domain    string
	svc       netip.AddrPort // the original destination when translated
	backend   netip.AddrPort
	ctDone    bool
	// containerFinal is false while the cgroup id is not resolved yet.
	containerFinal bool
}

const (
	// forgetAfter is how many intervals a flow may stay silent before its
	// remembered state is dropped.
	forgetAfter = 300
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
		flows:   make(map[flowID]*flowState),
		owners:  make(map[tupleID]*tupleOwner),
		index:   make(map[tupleID]int),
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
	entries, err := c.probe.Drain(func(f *bpf.Flow) { c.batch = append(c.batch, orphanFlow{Flow: *f}) })
	if err != nil {
		return nil, probe.Stats{}, err
	}
	c.attributeOrphans()
	recs := make([]flow.Record, 0, len(c.batch))
	for i := range c.batch {
		if f := &c.batch[i]; !f.Merged {
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
// earlier one.
func (c *Collector) attributeOrphans() {
	clear(c.index)
	for i := range c.batch {
		f := &c.batch[i]
		if f.PID == 0 {
			continue
		}
		t := tupleID{f.Proto, f.Local, f.Remote}
		c.index[t] = i
		o := c.owners[t]
		if o == nil {
			o = &tupleOwner{}
			c.owners[t] = o
		}
		*o = tupleOwner{pid: f.PID, comm: f.Comm, cgid: f.CgroupID, cgidV1: f.CgroupV1, lastSeen: c.interval}
	}
	for i := range c.batch {
		f := &c.batch[i]
		if f.PID != 0 {
			continue
		}
		t := tupleID{f.Proto, f.Local, f.Remote}
		if j, ok := c.index[t]; ok {
			o := &c.batch[j]
			o.TxBytes += f.TxBytes
			o.RxBytes += f.RxBytes
			o.TxPackets += f.TxPackets
			o.RxPackets += f.RxPackets
			f.Merged = true
			continue
		}
		if o := c.owners[t]; o != nil {
			f.PID, f.Comm, f.CgroupID, f.CgroupV1 = o.pid, o.comm, o.cgid, o.cgidV1
			o.lastSeen = c.interval
		}
	}
}

func (c *Collector) record(of *orphanFlow, now time.Time, ctBudget *int) flow.Record {
	f := &of.Flow
	id := flowID{proto: f.Proto, local: f.Local, remote: f.Remote, pid: f.PID}
	st := c.flows[id]
	if st == nil {
		st = &flowState{}
		c.flows[id] = st
	}
	if !st.containerFinal {
		st.container, st.containerFinal = c.cgroups.ContainerID(f.CgroupID, f.CgroupV1)
	}
	st.lastSeen = c.interval
	if st.domain == "" {
		st.domain = c.dns.Lookup(st.container, f.Remote.Addr())
	}
	if !st.ctDone && c.ct != nil && *ctBudget > 0 {
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
		Addr:        f.Local.Addr().String(),
		Port:        int64(f.Local.Port()),
		DstAddr:     f.Remote.Addr().String(),
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

// forget drops the state of flows that have been silent for a while.
func (c *Collector) forget() {
	if c.interval%16 != 0 {
		return
	}
	for id, st := range c.flows {
		if c.interval-st.lastSeen > forgetAfter {
			delete(c.flows, id)
		}
	}
	for t, o := range c.owners {
		if c.interval-o.lastSeen > forgetAfter {
			delete(c.owners, t)
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
