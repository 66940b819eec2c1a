//go:build linux

package bpf

import (
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// newDrainProbe loads the flow maps and, with byProgram, the drain and slot
// programs: a Probe that can switch and drain but has nothing attached.
func newDrainProbe(tb testing.TB, byProgram bool) *Probe {
	tb.Helper()
	skipWithoutBPF(tb)
	spec, err := loadNetflow()
	if err != nil {
		tb.Fatal(err)
	}
	p := &Probe{}
	tb.Cleanup(func() { p.Close() })
	if err := spec.LoadAndAssign(&p.maps, nil); err != nil {
		tb.Fatal(err)
	}
	if byProgram {
		load := func(objs any) error {
			return spec.LoadAndAssign(objs, &ebpf.CollectionOptions{MapReplacements: p.maps.replacements()})
		}
		if err := p.loadDrain(spec, load); err != nil {
			tb.Fatalf("loading the drain programs: %v", err)
		}
		// Kernels before 5.17 load the drain programs but not the slot
		// flush (bpf_loop).
		if _, err := p.loadSlots(load); err != nil {
			tb.Logf("loading the slot programs: %v", err)
		}
	}
	return p
}

// fillFlows stores n distinct flows in m: flow i has local port i, and its
// address and counters follow from i.
func fillFlows(tb testing.TB, m *ebpf.Map, n int) {
	tb.Helper()
	keys := make([]netflowFlowKey, n)
	vals := make([]netflowFlowVal, n)
	for i := range keys {
		keys[i].Proto = 6
		keys[i].Laddr[10], keys[i].Laddr[11], keys[i].Laddr[15] = 0xff, 0xff, byte(i)
		keys[i].Raddr[10], keys[i].Raddr[11], keys[i].Raddr[12] = 0xff, 0xff, 10
		keys[i].Lport = uint16(i)
		keys[i].Rport = 443
		keys[i].Scope = uint64(i / 7)
		vals[i].Pid = uint32(i/7 + 1)
		vals[i].TxBytes = uint64(1000 + i)
		vals[i].RxPackets = uint64(i % 13)
		copy(vals[i].Comm[:], []int8{'c', 'u', 'r', 'l'})
	}
	if n == 0 {
		return
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		tb.Fatal(err)
	}
}

// drainPaths are Drain's two ways to read a map.
var drainPaths = []struct {
	name      string
	byProgram bool
}{{"program", true}, {"batch", false}}

// TestDrain drains maps of several sizes, below, at and above the drain
// program's chunk, by program and by the batched syscall: every flow comes
// out once with its counters, and the map is empty afterwards.
func TestDrain(t *testing.T) {
	for _, path := range drainPaths {
		t.Run(path.name, func(t *testing.T) {
			p := newDrainProbe(t, path.byProgram)
			for _, n := range []int{0, 1, drainChunk, 3*drainChunk + 5} {
				// Drain reads the map the programs counted into until now.
				old := p.maps.FlowsA
				if p.active == 1 {
					old = p.maps.FlowsB
				}
				fillFlows(t, old, n)
				seen := make(map[uint16]bool, n)
				got, err := p.Drain(func(fs []Flow) {
					for _, f := range fs {
						i := int(f.Local.Port())
						if seen[f.Local.Port()] {
							t.Errorf("flow %d read twice", i)
						}
						seen[f.Local.Port()] = true
						want := netip.AddrFrom4([4]byte{0, 0, 0, byte(i)})
						if f.Local.Addr() != want || f.Remote != netip.MustParseAddrPort("10.0.0.0:443") ||
							f.PID != uint32(i/7+1) || f.Comm != "curl" || f.TxBytes != uint64(1000+i) ||
							f.RxPackets != uint64(i%13) || f.Proto != 6 {
							t.Errorf("flow %d read as %+v", i, f)
						}
					}
				})
				if err != nil {
					t.Fatalf("draining %d flows: %v", n, err)
				}
				if got != n || len(seen) != n {
					t.Errorf("drained %d flows (%d distinct), want %d", got, len(seen), n)
				}
				var k netflowFlowKey
				var v netflowFlowVal
				if it := old.Iterate(); it.Next(&k, &v) {
					t.Errorf("after draining %d flows the map still holds %+v", n, k)
				}
			}
		})
	}
}

// BenchmarkDrain50k measures one interval's read of 50,000 flows: the map
// switch, the read that empties the map and the conversion, by the drain
// program (what the probe uses where it loads) and by the batched syscall.
func BenchmarkDrain50k(b *testing.B) {
	for _, path := range drainPaths {
		b.Run(path.name, func(b *testing.B) {
			p := newDrainProbe(b, path.byProgram)
			const flows = 50_000
			for range b.N {
				b.StopTimer()
				old := p.maps.FlowsA
				if p.active == 1 {
					old = p.maps.FlowsB
				}
				fillFlows(b, old, flows)
				b.StartTimer()
				n, err := p.Drain(func([]Flow) {})
				if err != nil || n != flows {
					b.Fatalf("drained %d flows: %v", n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/interval")
		})
	}
}

// loadAttached loads and attaches the probe to the cgroup2 root, with opts
// otherwise.
func loadAttached(t *testing.T, opts Options) *Probe {
	t.Helper()
	skipWithoutBPF(t)
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			opts.CgroupRoot = dir
			break
		}
	}
	if opts.CgroupRoot == "" {
		t.Skip("no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	}
	opts.Logf = t.Logf
	p, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestDrainSwitchesMaps attaches the probe and sends datagrams on loopback:
// each lands, as sent (egress) and as received (ingress), in the flow map of
// its interval, and once Drain has read a map nothing more lands in it.
func TestDrainSwitchesMaps(t *testing.T) {
	p := loadAttached(t, Options{MaxFlows: 4096})
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	txPort := uint16(tx.LocalAddr().(*net.UDPAddr).Port)
	rxPort := uint16(rx.LocalAddr().(*net.UDPAddr).Port)
	// holds tells whether m has the flow of the socket on local port
	// port.
	holds := func(m *ebpf.Map, port uint16) bool {
		var k netflowFlowKey
		var v netflowFlowVal
		for it := m.Iterate(); it.Next(&k, &v); {
			if k.Proto == 17 && k.Lport == port {
				return true
			}
		}
		return false
	}
	for interval := range 4 {
		active, other := p.maps.FlowsA, p.maps.FlowsB
		if p.active == 1 {
			active, other = other, active
		}
		if _, err := tx.Write(make([]byte, 100+interval)); err != nil {
			t.Fatal(err)
		}
		// Egress is counted before the datagram arrives; ingress by
		// the time it can be read.
		if _, err := rx.Read(make([]byte, 200)); err != nil {
			t.Fatal(err)
		}
		for _, side := range []struct {
			name string
			port uint16
		}{{"sent", txPort}, {"received", rxPort}} {
			if !holds(active, side.port) || holds(other, side.port) {
				t.Fatalf("interval %d: the datagram %s is not (only) in the active flow map", interval, side.name)
			}
		}
		var sent, received uint64
		if _, err := p.Drain(func(fs []Flow) {
			for _, f := range fs {
				switch {
				case f.Proto == 17 && f.Local.Port() == txPort:
					sent += f.TxBytes
				case f.Proto == 17 && f.Local.Port() == rxPort:
					received += f.RxBytes
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		if want := uint64(100 + interval + 28); sent != want || received != want {
			t.Errorf("interval %d: read %d bytes sent and %d received, want %d", interval, sent, received, want)
		}
		// Other processes' packets keep coming; none of them may land
		// in the map just read.
		if n := countEntries(active); n != 0 {
			t.Errorf("interval %d: %d flows landed in the flow map after it was read", interval, n)
		}
	}
}

func countEntries(m *ebpf.Map) int {
	var k netflowFlowKey
	var v netflowFlowVal
	n := 0
	for it := m.Iterate(); it.Next(&k, &v); {
		n++
	}
	return n
}
