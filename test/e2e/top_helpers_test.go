//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

var intstr8080 = intstr.FromInt32(8080)

// probeSelector selects the probe pods of every session.
const probeSelector = "app.kubernetes.io/name=netflow-probe"

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pluginProc is a running kubectl-netflow.
type pluginProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdout  syncBuffer
	stderr  syncBuffer
	done    chan struct{}
	err     error
	started time.Time
}

// startPlugin starts kubectl-netflow against the lab. The test ends it, if
// it still runs, with SIGINT.
func (e *Env) startPlugin(t testing.TB, args ...string) *pluginProc {
	t.Helper()
	p := &pluginProc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(PluginBinary(t), args...)
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting kubectl-netflow: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		}
	})
	return p
}

// waitStderr waits until stderr holds each of wants.
func (p *pluginProc) waitStderr(timeout time.Duration, wants ...string) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := p.stderr.String()
		ok := true
		for _, w := range wants {
			if !strings.Contains(s, w) {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("kubectl-netflow exited (%v) before printing %q; stderr:\n%s\nstdout:\n%s", p.err, wants, s, p.stdout.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("kubectl-netflow did not print %q within %s; stderr:\n%s", wants, timeout, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends sig and waits for the exit.
func (p *pluginProc) stop(sig syscall.Signal, timeout time.Duration) error {
	p.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("kubectl-netflow still runs %s after %v; stderr:\n%s", timeout, sig, p.stderr.String())
		return nil
	}
}

// group is one row of `top -o json`.
type group map[string]any

func (g group) str(k string) string { s, _ := g[k].(string); return s }
func (g group) num(k string) int64 {
	f, _ := g[k].(float64)
	return int64(f)
}

func parseGroups(t testing.TB, out string) []group {
	t.Helper()
	var gs []group
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		t.Fatalf("top -o json printed no JSON array: %v\n%s", err, out)
	}
	return gs
}

// find returns the groups whose fields have the given values.
func find(gs []group, kv ...string) []group {
	var out []group
next:
	for _, g := range gs {
		for i := 0; i+1 < len(kv); i += 2 {
			if g.str(kv[i]) != kv[i+1] {
				continue next
			}
		}
		out = append(out, g)
	}
	return out
}

// tcpOverhead is the IPv4 and TCP header bytes of a segment with the
// timestamp option, which Linux sends by default: what the IP-layer counters
// hold on top of the payload.
const tcpOverhead = 20 + 32

// payload estimates the TCP payload of IP-layer counters.
func payload(bytes, packets int64) int64 { return bytes - tcpOverhead*packets }

// within reports whether got is within frac of want.
func within(got, want int64, frac float64) bool {
	d := float64(got - want)
	if d < 0 {
		d = -d
	}
	return d <= frac*float64(want)
}

// probePods lists the probe pods in ns.
func (e *Env) probePods(t testing.TB, ns string) []corev1.Pod {
	t.Helper()
	l, err := e.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: probeSelector})
	if err != nil {
		t.Fatalf("listing probe pods: %v", err)
	}
	return l.Items
}

// waitProbes waits until every probe pod in ns satisfies cond.
func (e *Env) waitProbes(t testing.TB, ns string, timeout time.Duration, what string, cond func([]corev1.Pod) bool) {
	t.Helper()
	var last []corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last = e.probePods(t, ns)
		return cond(last), nil
	})
	if err != nil {
		var b strings.Builder
		for _, p := range last {
			fmt.Fprintf(&b, "\n  %s: %s", p.Name, describe(&p))
		}
		t.Fatalf("probe pods in %s: not %s after %s:%s", ns, what, timeout, b.String())
	}
}

// httpServer is a pod template that serves a file of size bytes at /blob
// on port 8080 with busybox httpd.
func httpServerSpec(size int) corev1.PodSpec {
	grace := int64(1)
	return corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{
			Name:            "httpd",
			Image:           BusyboxImage,
			ImagePullPolicy: corev1.PullNever,
			Command:         []string{"sh", "-c", fmt.Sprintf("mkdir -p /tmp/www && head -c %d /dev/zero > /tmp/www/blob && exec httpd -f -p 8080 -h /tmp/www", size)},
			Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr8080}},
				PeriodSeconds: 1,
			},
		}},
	}
}

// tcpMSS is the payload of a full segment on the lab's 1500-byte links with
// timestamps: a retransmitted segment adds at most this much.
const tcpMSS = 1448

// retransSegs reads how many TCP segments the network namespace of the pod
// with IP podIP has retransmitted (RetransSegs of /proc/net/snmp), through
// the /proc of one of its processes: the lab's pods run on this machine.
// Retransmitted segments cross the wire again, so they count in the
// probe's IP-layer bytes on top of the payload.
func retransSegs(t *testing.T, podIP string) int64 {
	t.Helper()
	pids, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range pids {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		dir := "/proc/" + d.Name()
		// The namespace's local addresses, as LOCAL leaves of the FIB.
		fib, err := os.ReadFile(dir + "/net/fib_trie")
		if err != nil || !localAddr(string(fib), podIP) {
			continue
		}
		snmp, err := os.ReadFile(dir + "/net/snmp")
		if err != nil {
			continue
		}
		var names []string
		for _, line := range strings.Split(string(snmp), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Tcp:" {
				continue
			}
			if names == nil {
				names = f
				continue
			}
			for i, name := range names {
				if name == "RetransSegs" && i < len(f) {
					var n int64
					if _, err := fmt.Sscan(f[i], &n); err != nil {
						t.Fatalf("%s/net/snmp: RetransSegs %q: %v", dir, f[i], err)
					}
					return n
				}
			}
		}
		t.Fatalf("%s/net/snmp has no RetransSegs:\n%s", dir, snmp)
	}
	t.Fatalf("no process on this machine has %s as a local address", podIP)
	return 0
}

// localAddr reports whether /proc/net/fib_trie lists ip as a local address
// (a "/32 host LOCAL" leaf), not only as a route's network.
func localAddr(fib, ip string) bool {
	lines := strings.Split(fib, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "|-- "+ip || i+1 >= len(lines) {
			continue
		}
		if strings.Contains(lines[i+1], "/32 host LOCAL") {
			return true
		}
	}
	return false
}

// withinWire reports whether the payload estimate got is within frac of
// want, allowing on top the retransmitted segments that crossed the wire.
func withinWire(got, want int64, frac float64, retrans int64) bool {
	return within(got, want, frac) || (got > want && got-want <= int64(frac*float64(want))+retrans*tcpMSS)
}
