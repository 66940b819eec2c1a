// Command nsforward forwards TCP connections accepted on a listener in its own
// network namespace to an address inside another network namespace. The lab uses
// it to make the API server, which lives in a lab-owned namespace, reachable on
// the machine's loopback without any route or interface in the machine's own
// network namespace.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:16443", "address to listen on, in the current network namespace")
	netns := flag.String("netns", "", "path of the network namespace to dial in, e.g. /run/netns/nflab-core")
	target := flag.String("target", "", "address to dial inside -netns")
	flag.Parse()
	if err := run(*listen, *netns, *target); err != nil {
		log.Fatal(err)
	}
}

func run(listen, netns, target string) error {
	if netns == "" || target == "" {
		return errors.New("-netns and -target are required")
	}
	dial, err := dialerIn(netns)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	log.Printf("forwarding %s to %s in %s", listen, target, netns)
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accepting: %w", err)
		}
		go forward(c, dial, target)
	}
}

type dialRequest struct {
	addr  string
	reply chan dialResult
}

type dialResult struct {
	conn net.Conn
	err  error
}

// dialerIn returns a dial function whose sockets are created in the network
// namespace at path. Namespaces belong to OS threads, so one locked goroutine
// that never unlocks its thread does every dial; the thread dies with it.
func dialerIn(path string) (func(string) (net.Conn, error), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace: %w", err)
	}
	reqs := make(chan dialRequest)
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("entering network namespace %s: %w", path, err)
			return
		}
		f.Close()
		close(ready)
		for r := range reqs {
			c, err := net.Dial("tcp", r.addr)
			r.reply <- dialResult{c, err}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return func(addr string) (net.Conn, error) {
		r := dialRequest{addr, make(chan dialResult, 1)}
		reqs <- r
		res := <-r.reply
		return res.conn, res.err
	}, nil
}

func forward(c net.Conn, dial func(string) (net.Conn, error), target string) {
	defer c.Close()
	t, err := dial(target)
	if err != nil {
		log.Printf("dialing %s: %v", target, err)
		return
	}
	defer t.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go pipe(t, c)
	go pipe(c, t)
	wg.Wait()
}
