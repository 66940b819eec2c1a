//go:build linux

package app

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/probe/client"
	"github.com/kubectl-netflow/kubectl-netflow/probe/server"
)

// TestServeRealProbe loads the eBPF collector, serves it on loopback and
// checks that a client sees this test's own TCP traffic, named by node.
func TestServeRealProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading the eBPF probe needs root")
	}
	src, err := newSource(SourceConfig{MaxFlows: 4096, Logf: t.Logf})
	if err != nil {
		t.Skipf("the probe does not load here: %v", err)
	}
	srv, err := server.New(src, server.Config{
		Interval: 200 * time.Millisecond, IdleTimeout: time.Minute, MaxLifetime: 5 * time.Minute, NodeName: "node-e2e",
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	c, err := client.Dial(ctx, lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := c.Hello()
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if h.HookSet == "" || h.KernelRelease == "" || h.BootID != strings.TrimSpace(string(bootID)) || h.NodeName != "node-e2e" {
		t.Errorf("hello %+v", h)
	}

	const size = 1 << 20
	port := sendTCP(t, size)
	pid := int64(os.Getpid())
	var tx int64
	for tx < size {
		ev, err := c.Recv()
		if err != nil {
			t.Fatalf("stream ended before %d bytes were seen from port %d: %v", size, port, err)
		}
		if ev.Batch == nil {
			continue
		}
		for _, r := range ev.Batch.Records {
			if r.PID != pid || r.DstPort != int64(port) {
				continue
			}
			if r.NodeName != "node-e2e" || r.Protocol != "tcp" {
				t.Errorf("record %+v", r)
			}
			tx += r.TxBytes
		}
	}
}

// sendTCP sends n bytes over loopback TCP and returns the server's port.
func sendTCP(t *testing.T, n int) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	got := make(chan int64, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer conn.Close()
		m, _ := io.Copy(io.Discard, conn)
		got <- m
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if m := <-got; m != int64(n) {
		t.Fatalf("sent %d bytes, received %d", n, m)
	}
	return lis.Addr().(*net.TCPAddr).Port
}
