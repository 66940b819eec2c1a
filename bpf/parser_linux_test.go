//go:build linux

package bpf

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// The packet parser, run on crafted packets through BPF_PROG_TEST_RUN:
// no network, no attach, just the program and its maps.

type parserObjects struct {
	mapObjects
	Egress *ebpf.Program `ebpf:"skb_egress_a"`
}

// skipWithoutBPF skips tests that load programs or maps where that cannot
// work: without root or without the kernel's BTF.
func skipWithoutBPF(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("loading eBPF programs and maps needs root")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		tb.Skip("the kernel has no BTF")
	}
}

func loadParser(t *testing.T) *parserObjects {
	t.Helper()
	skipWithoutBPF(t)
	spec, err := loadNetflow()
	if err != nil {
		t.Fatal(err)
	}
	var o parserObjects
	if err := spec.LoadAndAssign(&o, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Egress.Close(); o.close() })
	return &o
}

// skbCtx is struct __sk_buff as BPF_PROG_TEST_RUN takes it: only the GSO
// fields are set.
func skbCtx(gsoSegs, gsoSize uint32) []byte {
	ctx := make([]byte, 192)
	binary.LittleEndian.PutUint32(ctx[164:], gsoSegs)
	binary.LittleEndian.PutUint32(ctx[176:], gsoSize)
	return ctx
}

func eth(etherType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	binary.BigEndian.PutUint16(b[12:], etherType)
	return append(b, payload...)
}

func ipv4(proto byte, options int, l4 []byte) []byte {
	ihl := 20 + options
	b := make([]byte, ihl)
	b[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(ihl+len(l4)))
	b[8] = 64
	b[9] = proto
	copy(b[12:], []byte{192, 0, 2, 1})
	copy(b[16:], []byte{192, 0, 2, 2})
	return append(b, l4...)
}

// ipv6 builds an IPv6 packet with the given extension headers (each a
// next-header value and its bytes) before the L4 header.
func ipv6(payloadLen int, exts []ext, proto byte, l4 []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	first := proto
	if len(exts) > 0 {
		first = exts[0].typ
	}
	b[6] = first
	b[7] = 64
	copy(b[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
	copy(b[24:], netip.MustParseAddr("2001:db8::2").AsSlice())
	var rest []byte
	for i, e := range exts {
		next := proto
		if i+1 < len(exts) {
			next = exts[i+1].typ
		}
		h := append([]byte(nil), e.body...)
		h[0] = next
		rest = append(rest, h...)
	}
	rest = append(rest, l4...)
	if payloadLen < 0 {
		payloadLen = len(rest)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(payloadLen))
	return append(b, rest...)
}

type ext struct {
	typ  byte
	body []byte
}

// Extension headers: body[0] is overwritten with the next header.
var (
	hopByHop8  = ext{0, []byte{0, 0, 1, 4, 0, 0, 0, 0}}    // PadN
	jumbo      = ext{0, []byte{0, 0, 0xc2, 4, 0, 0, 0, 0}} // jumbo payload option
	destOpts16 = ext{60, append([]byte{0, 1, 1, 12}, make([]byte, 12)...)}
	routing8   = ext{43, []byte{0, 0, 0, 0, 0, 0, 0, 0}}
)

func fragment(offset uint16) ext {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[2:], offset<<3)
	return ext{44, b}
}

func tcp(sport, dport uint16, optLen, payload int) []byte {
	hl := 20 + optLen
	b := make([]byte, hl+payload)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = byte(hl/4) << 4
	return b
}

func udp(sport, dport uint16, payload int) []byte {
	b := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+payload))
	return b
}

func TestParser(t *testing.T) {
	o := loadParser(t)
	for _, tc := range []struct {
		name         string
		pkt          []byte
		segs, size   uint32
		none         bool
		proto        uint8
		local        string
		lport, rport uint16
		bytes, pkts  uint64
	}{
		{name: "ipv4 tcp", pkt: eth(0x0800, ipv4(6, 0, tcp(40000, 443, 12, 100))),
			proto: 6, local: "192.0.2.1", lport: 40000, rport: 443, bytes: 20 + 32 + 100, pkts: 1},
		{name: "ipv4 options udp", pkt: eth(0x0800, ipv4(17, 8, udp(5000, 53, 30))),
			proto: 17, local: "192.0.2.1", lport: 5000, rport: 53, bytes: 28 + 8 + 30, pkts: 1},
		{name: "ipv4 tcp gso", pkt: eth(0x0800, ipv4(6, 0, tcp(40000, 80, 12, 3000))), segs: 4, size: 900,
			proto: 6, local: "192.0.2.1", lport: 40000, rport: 80, bytes: 3000 + 4*52, pkts: 4},
		{name: "ipv4 tcp gso without segs", pkt: eth(0x0800, ipv4(6, 0, tcp(40000, 80, 12, 3000))), segs: 0, size: 900,
			proto: 6, local: "192.0.2.1", lport: 40000, rport: 80, bytes: 3000 + 4*52, pkts: 4},
		{name: "ipv4 udp gso", pkt: eth(0x0800, ipv4(17, 0, udp(4000, 4001, 3000))), segs: 3, size: 1000,
			proto: 17, local: "192.0.2.1", lport: 4000, rport: 4001, bytes: 3000 + 3*28, pkts: 3},
		{name: "ipv4 non-first fragment", pkt: func() []byte {
			p := ipv4(17, 0, make([]byte, 100))
			binary.BigEndian.PutUint16(p[6:], 185) // offset 1480
			return eth(0x0800, p)
		}(), proto: 17, local: "192.0.2.1", bytes: 120, pkts: 1},
		{name: "ipv4 icmp", pkt: eth(0x0800, ipv4(1, 0, make([]byte, 8))), none: true},
		{name: "arp", pkt: eth(0x0806, make([]byte, 28)), none: true},
		{name: "ipv6 tcp", pkt: eth(0x86dd, ipv6(-1, nil, 6, tcp(40000, 443, 12, 100))),
			proto: 6, local: "2001:db8::1", lport: 40000, rport: 443, bytes: 40 + 32 + 100, pkts: 1},
		{name: "ipv6 hop-by-hop dest-opts routing udp", pkt: eth(0x86dd, ipv6(-1, []ext{hopByHop8, destOpts16, routing8}, 17, udp(6000, 53, 50))),
			proto: 17, local: "2001:db8::1", lport: 6000, rport: 53, bytes: 40 + 32 + 8 + 50, pkts: 1},
		{name: "ipv6 first fragment", pkt: eth(0x86dd, ipv6(-1, []ext{fragment(0)}, 17, udp(7000, 7001, 100))),
			proto: 17, local: "2001:db8::1", lport: 7000, rport: 7001, bytes: 40 + 8 + 8 + 100, pkts: 1},
		{name: "ipv6 later fragment", pkt: eth(0x86dd, ipv6(-1, []ext{fragment(185)}, 17, make([]byte, 100))),
			proto: 17, local: "2001:db8::1", bytes: 40 + 8 + 100, pkts: 1},
		// Test packets stay under a page, the limit of BPF_PROG_TEST_RUN.
		// BIG TCP: payload length 0 and a jumbo hop-by-hop header that no
		// wire segment carries.
		{name: "ipv6 big tcp jumbo", pkt: eth(0x86dd, ipv6(0, []ext{jumbo}, 6, tcp(40000, 5201, 12, 3000))), segs: 3, size: 1000,
			proto: 6, local: "2001:db8::1", lport: 40000, rport: 5201, bytes: 3000 + 3*(40+32), pkts: 3},
		{name: "ipv6 icmp", pkt: eth(0x86dd, ipv6(-1, nil, 58, make([]byte, 8))), none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ret, err := o.Egress.Run(&ebpf.RunOptions{Data: tc.pkt, Context: skbCtx(tc.segs, tc.size)})
			if err != nil {
				t.Fatal(err)
			}
			if ret != 1 {
				t.Errorf("the program returned %d: it must never drop", ret)
			}
			var flows []Flow
			var k netflowFlowKey
			var v netflowFlowVal
			it := o.FlowsA.Iterate()
			for it.Next(&k, &v) {
				var f Flow
				toFlow(&k, &v, &f, true)
				flows = append(flows, f)
				if err := o.FlowsA.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					t.Fatal(err)
				}
			}
			if tc.none {
				if len(flows) != 0 {
					t.Fatalf("counted %+v", flows)
				}
				return
			}
			if len(flows) != 1 {
				t.Fatalf("want one flow, got %+v", flows)
			}
			f := flows[0]
			if f.Proto != tc.proto || f.Local.Addr().String() != tc.local || f.Local.Port() != tc.lport || f.Remote.Port() != tc.rport {
				t.Errorf("flow %d %s -> %s, want %d %s:%d -> :%d", f.Proto, f.Local, f.Remote, tc.proto, tc.local, tc.lport, tc.rport)
			}
			if f.TxBytes != tc.bytes || f.TxPackets != tc.pkts || f.RxBytes != 0 {
				t.Errorf("tx %d bytes %d packets (rx %d), want %d bytes %d packets", f.TxBytes, f.TxPackets, f.RxBytes, tc.bytes, tc.pkts)
			}
		})
	}
}

// BenchmarkPacketPath runs the egress program on one IPv4 TCP segment in
// the kernel (BPF_PROG_TEST_RUN with repeat): the cost of the per-packet
// path on an existing flow, without attach overhead.
func BenchmarkPacketPath(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	spec, err := loadNetflow()
	if err != nil {
		b.Fatal(err)
	}
	var o parserObjects
	if err := spec.LoadAndAssign(&o, nil); err != nil {
		b.Fatal(err)
	}
	defer func() { o.Egress.Close(); o.close() }()
	pkt := eth(0x0800, ipv4(6, 0, tcp(40000, 443, 12, 1000)))
	b.ResetTimer()
	_, d, err := o.Egress.Benchmark(pkt, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds()), "ns/packet")
}

// TestDegradedVariantsLoad loads the programs as they are configured on
// kernels that lack bpf_skc_to_mptcp_sock in cgroup_skb or the task in
// cgroup/sock_create: the dead branches must not stop the load. Both kinds of packet programs load,
// keyed by network namespace (where the kernel can read its cookie) and by
// pid.
func TestDegradedVariantsLoad(t *testing.T) {
	loadParser(t) // skips without root or BTF
	spec, err := loadNetflow()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"have_mptcp_helper", "have_task_in_sock_create"} {
		if err := spec.Variables[name].Set(uint32(0)); err != nil {
			t.Fatal(err)
		}
	}
	var pkt packetObjects
	var maps mapObjects
	if err := spec.LoadAndAssign(&maps, nil); err != nil {
		t.Fatal(err)
	}
	defer maps.close()
	load := func(objs any) error {
		return spec.LoadAndAssign(objs, &ebpf.CollectionOptions{MapReplacements: maps.replacements()})
	}
	if err := load(&pkt); err != nil {
		t.Fatal(err)
	}
	pkt.SockCreate.Close()
	pkt.Iter.Close()
	for _, netns := range []bool{true, false} {
		if netns && features.HaveProgramHelper(ebpf.CGroupSKB, asm.FnGetNetnsCookie) != nil {
			continue
		}
		count, err := loadCount(netns, load)
		if err != nil {
			t.Fatalf("loading the packet programs keyed by netns=%v: %v", netns, err)
		}
		for _, c := range count {
			c.egress.Close()
			c.ingress.Close()
		}
	}
}
