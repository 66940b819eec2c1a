//go:build linux

package collector

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// The kernel tests run their traffic in child processes of the test binary
// (TestMain dispatches on NETFLOW_HELPER), so each side has its own pid,
// cgroup and network namespace. A helper waits for a line on stdin before
// it opens any socket: the test moves it into its cgroups first.

const helperEnv = "NETFLOW_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(helperMain(role))
	}
	os.Exit(m.Run())
}

func helperMain(role string) int {
	// Gate: wait until the test has placed us in our cgroups.
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "gate:", err)
		return 2
	}
	addr := os.Getenv("NETFLOW_ADDR")
	n, _ := strconv.Atoi(os.Getenv("NETFLOW_N"))
	if err := runHelper(role, addr, n); err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 1
	}
	return 0
}

func runHelper(role, addr string, n int) error {
	network := strings.SplitN(role, "-", 2)[0]
	switch role {
	case "tcp-worker":
		// Serves n connections one after the other on the listener it
		// inherited as fd 3, as a pre-forked server's worker does.
		ln, err := net.FileListener(os.NewFile(3, "listener"))
		if err != nil {
			return err
		}
		buf := make([]byte, 1000)
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			if _, err := io.ReadFull(c, buf[:100]); err != nil {
				return err
			}
			fmt.Println("read 100")
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			fmt.Println("read 1000")
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
		return nil
	case "tcp-sender":
		// Sends 100 bytes on the connected socket it inherited as fd 3,
		// from CPU n, for each "send" line on stdin.
		runtime.LockOSThread()
		var cpus unix.CPUSet
		cpus.Set(n)
		if err := unix.SchedSetaffinity(0, &cpus); err != nil {
			return fmt.Errorf("pinning to CPU %d: %w", n, err)
		}
		c, err := net.FileConn(os.NewFile(3, "socket"))
		if err != nil {
			return err
		}
		fmt.Println("ready") // the test writes commands only now: the gate's reader has no more than its line
		for sc := bufio.NewScanner(os.Stdin); sc.Scan(); {
			if _, err := c.Write(make([]byte, 100)); err != nil {
				return err
			}
			fmt.Println("sent")
		}
		return nil
	case "tcp-reader":
		// Reads n bytes from the connected socket it inherited as fd 3,
		// and nothing else.
		c, err := net.FileConn(os.NewFile(3, "socket"))
		if err != nil {
			return err
		}
		if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
			return err
		}
		fmt.Println("read", n)
		return nil
	case "tcp-sink":
		// Reads one connection to its end.
		c, err := acceptOne(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		got, err := io.Copy(io.Discard, c)
		if err != nil {
			return err
		}
		fmt.Println("received", got)
		return nil
	case "tcp-source":
		// Sends for n milliseconds, then reports what it sent.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		buf := make([]byte, 64<<10)
		sent := 0
		for end := time.Now().Add(time.Duration(n) * time.Millisecond); time.Now().Before(end); {
			w, err := c.Write(buf)
			sent += w
			if err != nil {
				return err
			}
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
		// The sink closes once it has read everything: then every
		// segment, retransmissions included, is on the wire.
		_, _ = io.Copy(io.Discard, c)
		fmt.Println("sent", sent, "retrans", retransmitted(c))
		return c.Close()
	case "tcp-server":
		c, err := acceptOne(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
			return err
		}
		if _, err := c.Write(make([]byte, n)); err != nil {
			return err
		}
		// Wait for the client's close, so both FINs are counted.
		_, _ = io.Copy(io.Discard, c)
		fmt.Println("retrans", retransmitted(c))
		return nil
	case "tcp-client":
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		if _, err := c.Write(make([]byte, n)); err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
			return err
		}
		fmt.Println("retrans", retransmitted(c))
		return c.Close()
	case "udp-server":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		defer pc.Close()
		if u, ok := pc.(*net.UDPConn); ok {
			_ = u.SetReadBuffer(4 << 20)
		}
		fmt.Println(pc.LocalAddr())
		buf := make([]byte, 65536)
		got := 0
		for got < n {
			_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, _, err := pc.ReadFrom(buf); err != nil {
				break
			}
			got++
		}
		fmt.Println(got)
		return nil
	case "udp-client", "udp-client-bound":
		// udp-client-bound sends from a fixed local address:
		// addr is "local|remote".
		var c net.Conn
		var err error
		if local, remote, bound := strings.Cut(addr, "|"); bound {
			var la, ra *net.UDPAddr
			if la, err = net.ResolveUDPAddr("udp", local); err != nil {
				return err
			}
			if ra, err = net.ResolveUDPAddr("udp", remote); err != nil {
				return err
			}
			c, err = net.DialUDP("udp", la, ra)
		} else {
			c, err = net.Dial("udp", addr)
		}
		if err != nil {
			return err
		}
		defer c.Close()
		b := make([]byte, 1000)
		for i := range n {
			if _, err := c.Write(b); err != nil {
				return err
			}
			if i%50 == 49 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	case "dns-server":
		return dnsServer(addr)
	case "dns-client":
		return dnsClient(addr, n)
	}
	return fmt.Errorf("unknown helper role %q (%s)", role, network)
}

// retransmitted returns the payload bytes TCP sent again on c: they are on
// the wire, so the probe counts them.
func retransmitted(c net.Conn) uint64 {
	var n uint64
	if sc, ok := c.(syscall.Conn); ok {
		raw, err := sc.SyscallConn()
		if err == nil {
			_ = raw.Control(func(fd uintptr) {
				if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
					n = ti.Bytes_retrans
				}
			})
		}
	}
	return n
}

const testDomain = "svc.netflow.test"

// dnsServer answers one A query for testDomain with its own address, then
// accepts one TCP connection on port 8080 and reads it to the end.
func dnsServer(addr string) error {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, "53"))
	if err != nil {
		return err
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "8080"))
	if err != nil {
		return err
	}
	fmt.Println("ready")
	buf := make([]byte, 512)
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return err
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil {
		return err
	}
	q, err := p.Question()
	if err != nil {
		return err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	// A CNAME first, as resolvers often answer: the name asked stays the name.
	target := dnsmessage.MustNewName("backend." + testDomain + ".")
	_ = b.CNAMEResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.CNAMEResource{CNAME: target})
	_ = b.AResource(dnsmessage.ResourceHeader{Name: target, Class: dnsmessage.ClassINET, TTL: 60},
		dnsmessage.AResource{A: netip.MustParseAddr(addr).As4()})
	msg, err := b.Finish()
	if err != nil {
		return err
	}
	if _, err := pc.WriteTo(msg, from); err != nil {
		return err
	}
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	_, _ = io.Copy(io.Discard, c)
	return nil
}

// dnsClient resolves testDomain at the DNS server addr, then sends n bytes
// to port 8080 of the address it got.
func dnsClient(server string, n int) error {
	c, err := net.Dial("udp", net.JoinHostPort(server, "53"))
	if err != nil {
		return err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(testDomain + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	q, _ := b.Finish()
	if _, err := c.Write(q); err != nil {
		return err
	}
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := c.Read(buf)
	if err != nil {
		return err
	}
	c.Close()
	var p dnsmessage.Parser
	if _, err := p.Start(buf[:m]); err != nil {
		return err
	}
	_ = p.SkipAllQuestions()
	var ip netip.Addr
	for {
		h, err := p.AnswerHeader()
		if err != nil {
			break
		}
		if h.Type == dnsmessage.TypeA {
			r, _ := p.AResource()
			ip = netip.AddrFrom4(r.A)
			continue
		}
		_ = p.SkipAnswer()
	}
	if !ip.IsValid() {
		return fmt.Errorf("no A answer")
	}
	tc, err := net.Dial("tcp", net.JoinHostPort(ip.String(), "8080"))
	if err != nil {
		return err
	}
	if _, err := tc.Write(make([]byte, n)); err != nil {
		return err
	}
	return tc.Close()
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	pid   int
}

// acceptOne listens on addr, prints the address it got, and accepts one
// connection.
func acceptOne(addr string) (net.Conn, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	fmt.Println(ln.Addr())
	return ln.Accept()
}

// startHelper starts role in the network namespace ns ("" for the test's
// own), moves it into the cgroup directories cgroups, and lets it go.
func startHelper(t *testing.T, ns, role, addr string, n int, cgroups ...string) *helper {
	t.Helper()
	return startHelperFiles(t, ns, role, addr, n, nil, cgroups...)
}

// startHelperFiles is startHelper with files the helper inherits from fd 3
// on.
func startHelperFiles(t *testing.T, ns, role, addr string, n int, files []*os.File, cgroups ...string) *helper {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if ns != "" {
		cmd = exec.Command("ip", "netns", "exec", ns, self)
	} else {
		cmd = exec.Command(self)
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+role, "NETFLOW_ADDR="+addr, "NETFLOW_N="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = files
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), pid: cmd.Process.Pid}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for _, cg := range cgroups {
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(h.pid)), 0o644); err != nil {
			t.Fatalf("moving helper into %s: %v", cg, err)
		}
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	return h
}

// line reads the helper's next output line.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	s, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading helper %d output: %v", h.pid, err)
	}
	return strings.TrimSpace(s)
}

// wait waits for the helper to exit successfully.
func (h *helper) wait(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper %d: %v", h.pid, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("helper %d did not finish", h.pid)
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newNetns creates a network namespace that the test removes, with its
// loopback up.
func newNetns(t *testing.T) string {
	t.Helper()
	name := "nftest-" + randomHex(8)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// Addresses of the veth tests: the benchmarking range (RFC 2544) and the
// documentation prefix, inside namespaces the test owns.
const (
	vethA4 = "198.18.0.1"
	vethB4 = "198.18.0.2"
	vethA6 = "2001:db8::1"
	vethB6 = "2001:db8::2"
)

// newVethPair creates two namespaces joined by a veth pair, addressed with
// vethA*/vethB*.
func newVethPair(t *testing.T) (a, b string) {
	t.Helper()
	a, b = newNetns(t), newNetns(t)
	run(t, "ip", "-n", a, "link", "add", "nf0", "type", "veth", "peer", "name", "nf1", "netns", b)
	run(t, "ip", "-n", a, "addr", "add", vethA4+"/24", "dev", "nf0")
	run(t, "ip", "-n", b, "addr", "add", vethB4+"/24", "dev", "nf1")
	run(t, "ip", "-n", a, "addr", "add", vethA6+"/64", "dev", "nf0", "nodad")
	run(t, "ip", "-n", b, "addr", "add", vethB6+"/64", "dev", "nf1", "nodad")
	run(t, "ip", "-n", a, "link", "set", "nf0", "up")
	run(t, "ip", "-n", b, "link", "set", "nf1", "up")
	return a, b
}

// newCgroup creates a cgroup whose last path component is a 64-hex
// container id under root, removed when the test ends.
func newCgroup(t *testing.T, root, id string) string {
	t.Helper()
	dir := filepath.Join(root, "netflow-test-"+randomHex(8), id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating cgroup: %v", err)
	}
	t.Cleanup(func() {
		// The helpers have exited (their cleanups ran first); rmdir may
		// race with the kernel's exit bookkeeping for a moment.
		for range 50 {
			if os.Remove(dir) == nil || !exists(dir) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = os.Remove(filepath.Dir(dir))
	})
	return dir
}
