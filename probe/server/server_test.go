package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe"
)

// source is the least probe.Source; the client package tests the server with
// servertest's fuller one.
type source struct{ closes int }

func (s *source) Collect(context.Context) ([]flow.Record, probe.Stats, error) {
	return nil, probe.Stats{}, nil
}
func (s *source) HookSet() string { return "" }
func (s *source) Close() error    { s.closes++; return nil }

func TestCheckListen(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:7459", true},
		{"127.0.0.2:0", true},
		{"[::1]:7459", true},
		{"0.0.0.0:7459", false},
		{":7459", false},
		{"10.1.2.3:7459", false},
		{"localhost:7459", false},
		{"7459", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if err := CheckListen(tt.addr); (err == nil) != tt.ok {
				t.Errorf("CheckListen(%q) = %v, want ok %v", tt.addr, err, tt.ok)
			}
		})
	}
}

func TestNewClosesSourceOnBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "all interfaces", cfg: Config{Listen: "0.0.0.0:7459"}},
		{name: "negative interval", cfg: Config{Interval: -1}},
		{name: "negative idle timeout", cfg: Config{IdleTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &source{}
			if _, err := New(src, tt.cfg); err == nil {
				t.Fatal("New accepted the config")
			}
			if src.closes != 1 {
				t.Errorf("source closed %d times, want 1", src.closes)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	s, err := New(&source{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.Listen != DefaultListen || c.Interval != DefaultInterval || c.IdleTimeout != DefaultIdleTimeout ||
		c.MaxLifetime != DefaultMaxLifetime || c.QueueLength != DefaultQueueLength || c.StatsInterval != DefaultStatsInterval {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestListenInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, err = Listen(addr)
	if err == nil || !strings.Contains(err.Error(), addr+" is in use on this node") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("got %v, want %s in use", err, addr)
	}
	src := &source{}
	s, err := New(src, Config{Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || src.closes != 1 {
		t.Errorf("Run on a taken port: %v, source closed %d times; want an error and 1", err, src.closes)
	}
}
