// Package live is the flow source of a running cluster: it starts a probe on
// each selected node, streams from each through a port-forward, fans the
// streams in, names both ends of every record and reports the health of the
// whole as flow.Status.
//
// Nodes that share a kernel (kind, k3d, multi-node minikube) are detected by
// the boot id in the probes' Hello: every probe there sees the sockets of all
// of them, so each flow is kept from one probe only. Enrichment puts a flow
// on its pod's real node, and the copy kept is the one from the probe of
// that node: each probe reads the connection tracking of its own node, and
// only the node of the socket knows which backend a Service address was
// translated to. Flows that belong to no probed node are kept from the
// kernel's first probe.
package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/probe/client"
)

// Stream is an open stream from one probe.
type Stream interface {
	Hello() client.Hello
	// Recv returns the next event; io.EOF at the end of the stream.
	Recv() (client.Event, error)
	Close() error
}

// Probes starts, inspects and removes the probe pods of a session.
type Probes interface {
	// Start starts a probe on each node and returns the nodes whose probe
	// runs and why the others failed; err fails them all.
	Start(ctx context.Context, nodes []string, timeout time.Duration, progress func(node, msg string)) (running []string, failed map[string]error, err error)
	// Why tells why the probe of node stopped, "" if it still runs.
	Why(ctx context.Context, node string) string
	// Delete removes every probe pod within timeout.
	Delete(timeout time.Duration) error
}

// Enricher names the ends of records.
type Enricher interface {
	// Start starts the caches, which run until ctx ends, and waits at most
	// syncTimeout for their first fill.
	Start(ctx context.Context, syncTimeout time.Duration) error
	// Enrich names the ends of r and reports whether they are as named as
	// they will get; if not, the source enriches r again after RetryDelay.
	Enrich(r *flow.Record) (complete bool)
}

// Config configures a Source.
type Config struct {
	// Name is the source's name in the status, such as the kube context.
	Name string
	// Nodes are the nodes to probe; a non-empty value of Unusable marks a
	// node that gets no probe, with the reason.
	Nodes    []string
	Unusable map[string]string
	Probes   Probes
	// Connect opens a stream to the probe of node.
	Connect  func(ctx context.Context, node string) (Stream, error)
	Enricher Enricher
	// Progress receives start-up and reconnect messages per node; nil
	// discards them.
	Progress func(node, msg string)
	// StartTimeout bounds the start of the probes; SyncTimeout the filling
	// of the enricher's caches; ConnectTimeout each connection attempt.
	StartTimeout   time.Duration
	SyncTimeout    time.Duration
	ConnectTimeout time.Duration
	// Backoff is the first wait before a lost stream is reopened; it
	// doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// DeleteTimeout bounds the removal of the probes on exit.
	DeleteTimeout time.Duration
	// Queue is how many batches may wait between the streams and the
	// consumer before the streams wait.
	Queue int
	// RetryDelay is how long records whose ends are not named yet wait
	// for the Kubernetes caches to catch up (a pod that just started)
	// before they are enriched again and passed on as they are.
	RetryDelay time.Duration
	// MaxDelayed bounds the records that wait; beyond it they go on at
	// once.
	MaxDelayed int
}

func (c *Config) setDefaults() {
	if c.Progress == nil {
		c.Progress = func(string, string) {}
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 30 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		// A probe that has just started may not listen yet; short
		// attempts retried soon reach it sooner than one long wait.
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.DeleteTimeout <= 0 {
		c.DeleteTimeout = 15 * time.Second
	}
	if c.Queue <= 0 {
		c.Queue = 1024
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = 2 * time.Second
	}
	if c.MaxDelayed <= 0 {
		c.MaxDelayed = 200_000
	}
}

// chunk is what a stream hands to the consumer: records, and whether they
// wait for a second enrichment. Records that wait are not yet placed on a
// node, so on a shared kernel they carry the probe's node and its peers, to
// decide after the second enrichment whether this copy is the one to keep.
type chunk struct {
	recs  []flow.Record
	retry bool
	node  string
	peers []string
}

type delayed struct {
	due time.Time
	chunk
}

// Source is the live flow.Source. Stream may be called once.
type Source struct {
	cfg Config

	mu      sync.Mutex
	status  flow.Status
	dirty   bool
	kernels map[string][]string // boot id → streaming nodes; the first is read
	bootID  map[string]string   // node → boot id
	lost    map[string]uint64   // node → lost flows, cumulative as the probe reports them
	ring    map[string]uint64   // node → ring drops, cumulative
	dropped map[string]uint64   // node → records the probe dropped for us
	readErr map[string]uint64   // node → failed reads, cumulative as its probe reports them
	// sharedSaid marks the kernels whose sharing was reported.
	sharedSaid map[string]bool
}

// New returns a Source.
func New(cfg Config) *Source {
	cfg.setDefaults()
	return &Source{
		cfg:     cfg,
		kernels: map[string][]string{},
		bootID:  map[string]string{},
		lost:    map[string]uint64{},
		ring:    map[string]uint64{},
		dropped: map[string]uint64{},
		readErr: map[string]uint64{},
	}
}

// Stream starts the probes, streams until ctx ends and removes the probes
// again, whatever happened. It returns nil when ctx ends, and an error when
// no probe could start or every probe was lost.
func (s *Source) Stream(ctx context.Context, fn func(*flow.Batch) error) (err error) {
	s.status = flow.Status{
		Source: s.cfg.Name, Live: true, Started: time.Now(),
		NodesAsked:  append([]string(nil), s.cfg.Nodes...),
		NodesFailed: map[string]string{}, NodesNotReading: map[string]string{}, HookSets: map[string]string{},
	}
	var usable []string
	for _, n := range s.cfg.Nodes {
		if why := s.cfg.Unusable[n]; why != "" {
			s.status.NodesFailed[n] = why
			s.cfg.Progress(n, "skipped: "+why)
			continue
		}
		usable = append(usable, n)
	}
	if len(usable) == 0 {
		return fmt.Errorf("no node can run a probe: %s", joinReasons(s.status.NodesFailed))
	}

	// Whatever happens from here on, the probes go away; on a fresh
	// context, because ctx has usually ended (Ctrl-C) by then.
	defer func() {
		if derr := s.cfg.Probes.Delete(s.cfg.DeleteTimeout); derr != nil {
			err = errors.Join(err, derr)
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	synced := make(chan error, 1)
	go func() {
		// The informers live as long as ctx; only the wait for their
		// first fill is bounded.
		synced <- s.cfg.Enricher.Start(ctx, s.cfg.SyncTimeout)
	}()

	running, failed, err := s.cfg.Probes.Start(ctx, usable, s.cfg.StartTimeout, s.cfg.Progress)
	if err != nil {
		return fmt.Errorf("starting the probes: %w", err)
	}
	for n, ferr := range failed {
		s.status.NodesFailed[n] = ferr.Error()
	}
	if len(running) == 0 {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("no probe started: %s", joinReasons(s.status.NodesFailed))
	}
	if serr := <-synced; serr != nil {
		if ctx.Err() != nil {
			return nil
		}
		s.cfg.Progress("", fmt.Sprintf("warning: %v; names of pods and workloads may be missing", serr))
	}

	out := make(chan chunk, s.cfg.Queue)
	var wg sync.WaitGroup
	for _, n := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, n, out)
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	defer func() { cancel(); wg.Wait() }()

	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
	return s.consume(ctx, out, allDone, fn)
}

// consume hands batches to fn: whatever arrived since the last call in one
// batch, with the status when it changed. When ctx ends, what already
// arrived (and what waits for a second enrichment) is handed over in a last
// batch, so that a run that ends counts all it saw.
func (s *Source) consume(ctx context.Context, out <-chan chunk, allDone <-chan struct{}, fn func(*flow.Batch) error) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var buf []flow.Record
	var waiting []delayed
	nWaiting := 0
	take := func(c chunk) {
		if c.retry && s.cfg.RetryDelay > 0 && nWaiting+len(c.recs) <= s.cfg.MaxDelayed {
			waiting = append(waiting, delayed{due: time.Now().Add(s.cfg.RetryDelay), chunk: c})
			nWaiting += len(c.recs)
			return
		}
		buf = appendOwned(buf, c.node, c.peers, c.recs)
	}
	release := func(all bool) {
		now := time.Now()
		for len(waiting) > 0 && (all || !waiting[0].due.After(now)) {
			w := waiting[0]
			for i := range w.recs {
				s.cfg.Enricher.Enrich(&w.recs[i])
			}
			buf = appendOwned(buf, w.node, w.peers, w.recs)
			nWaiting -= len(w.recs)
			waiting = waiting[1:]
		}
	}
	drain := func(all bool) {
		for all || len(buf) < 1<<16 {
			select {
			case c := <-out:
				take(c)
			default:
				return
			}
		}
	}
	for {
		buf = buf[:0]
		var err error
		last := false
		select {
		case <-ctx.Done():
			last = true
		case <-allDone:
			last = true
			if ctx.Err() == nil {
				s.mu.Lock()
				err = fmt.Errorf("every probe was lost: %s", joinReasons(s.status.NodesFailed))
				s.mu.Unlock()
			}
		case <-tick.C:
		case c := <-out:
			take(c)
		}
		drain(last)
		release(last)
		b := &flow.Batch{Records: buf, Status: s.takeStatus()}
		if len(b.Records) > 0 || b.Status != nil {
			if ferr := fn(b); ferr != nil {
				return ferr
			}
		}
		if last {
			return err
		}
	}
}

// takeStatus returns a copy of the status if it changed since the last call.
func (s *Source) takeStatus() *flow.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return nil
	}
	s.dirty = false
	st := s.status
	st.NodesAsked = append([]string(nil), st.NodesAsked...)
	st.NodesStreaming = nil
	shared := false
	for _, nodes := range s.kernels {
		st.NodesStreaming = append(st.NodesStreaming, nodes...)
		if len(nodes) > 1 {
			shared = true
		}
	}
	sort.Strings(st.NodesStreaming)
	// Once seen, a shared kernel stays shared: a lost probe does not
	// change the cluster.
	s.status.SharedKernel = s.status.SharedKernel || shared
	st.SharedKernel = s.status.SharedKernel
	st.NodesFailed = make(map[string]string, len(s.status.NodesFailed))
	for k, v := range s.status.NodesFailed {
		st.NodesFailed[k] = v
	}
	st.NodesNotReading = make(map[string]string, len(s.status.NodesNotReading))
	for k, v := range s.status.NodesNotReading {
		st.NodesNotReading[k] = v
	}
	st.HookSets = make(map[string]string, len(s.status.HookSets))
	for k, v := range s.status.HookSets {
		st.HookSets[k] = v
	}
	st.LostFlows, st.RingDrops = 0, 0
	for n, v := range s.lost {
		if s.counts(n) {
			st.LostFlows += v
		}
	}
	for n, v := range s.dropped {
		if s.counts(n) {
			st.LostFlows += v
		}
	}
	for n, v := range s.ring {
		if s.counts(n) {
			st.RingDrops += v
		}
	}
	return &st
}

// counts tells whether node's kernel counters count: on a shared kernel,
// only those of the probe that is read. Callers hold s.mu.
func (s *Source) counts(node string) bool {
	nodes := s.kernels[s.bootID[node]]
	return len(nodes) == 0 || nodes[0] == node
}

// run streams from the probe of node until ctx ends or the probe is gone,
// reconnecting with backoff when the stream breaks.
func (s *Source) run(ctx context.Context, node string, out chan<- chunk) {
	backoff := s.cfg.Backoff
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			if why := s.cfg.Probes.Why(ctx, node); why != "" {
				s.fail(node, "lost: "+why)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, s.cfg.MaxBackoff)
		}
		cctx, ccancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
		st, err := s.cfg.Connect(cctx, node)
		ccancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.fail(node, "connecting: "+err.Error())
			if attempt > 0 {
				s.cfg.Progress(node, "cannot connect yet, retrying: "+err.Error())
			}
			continue
		}
		backoff = s.cfg.Backoff
		// Recv blocks until the probe sends; closing the stream when
		// ctx ends unblocks it, so that quitting never waits on a probe.
		readDone := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				st.Close()
			case <-readDone:
			}
		}()
		err = s.read(ctx, node, st, out)
		close(readDone)
		st.Close()
		s.leave(node)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.fail(node, "stream lost, reconnecting: "+err.Error())
			s.cfg.Progress(node, "stream lost, reconnecting: "+err.Error())
		}
		attempt = 1
	}
}

// read reads one stream until it ends.
func (s *Source) read(ctx context.Context, node string, st Stream, out chan<- chunk) error {
	h := st.Hello()
	s.join(node, h)
	s.cfg.Progress(node, fmt.Sprintf("streaming (kernel %s, hooks %s)", h.KernelRelease, h.HookSet))
	for {
		ev, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the probe closed the stream")
			}
			return err
		}
		switch {
		case ev.Batch != nil:
			if len(ev.Batch.Records) == 0 {
				continue
			}
			peers := s.peers(node)
			// Records named at once go on if this probe's copy is the
			// one to keep; the others wait for a second try in the
			// consumer, which decides then.
			recs := ev.Batch.Records
			n := 0
			var retry []flow.Record
			for i := range recs {
				if peers != nil {
					// On a shared kernel the probe cannot tell
					// which node a socket is on: enrichment
					// places it, or leaves it on none.
					recs[i].NodeName = ""
				}
				switch {
				case !s.cfg.Enricher.Enrich(&recs[i]):
					retry = append(retry, recs[i])
				case owns(node, peers, &recs[i]):
					recs[n] = recs[i]
					n++
				}
			}
			for _, c := range []chunk{{recs: recs[:n]}, {recs: retry, retry: true, node: node, peers: peers}} {
				if len(c.recs) == 0 {
					continue
				}
				select {
				case out <- c:
				case <-ctx.Done():
					return nil
				}
			}
		case ev.Stats != nil:
			s.stats(node, ev.Stats)
		case ev.Goodbye != nil:
			if ev.Goodbye.MaxLifetime {
				s.fail(node, "lost: the probe reached its maximum duration (--max-duration)")
				// The probe ends for good: do not reconnect.
				<-ctx.Done()
				return nil
			}
			// Whether the probe is gone for good (its pod deleted,
			// the node drained) is for the reconnect loop to find out.
			return fmt.Errorf("the probe said goodbye: %s", ev.Goodbye.Message)
		}
	}
}

// join records that node streams, with its kernel.
func (s *Source) join(node string, h client.Hello) {
	s.mu.Lock()
	defer s.mu.Unlock()
	boot := h.BootID
	if boot == "" {
		boot = "node:" + node // a probe that does not know its boot id has a kernel of its own
	}
	s.bootID[node] = boot
	nodes := s.kernels[boot]
	if !contains(nodes, node) {
		s.kernels[boot] = append(nodes, node)
	}
	if len(s.kernels[boot]) > 1 && !s.sharedSaid[boot] {
		if s.sharedSaid == nil {
			s.sharedSaid = map[string]bool{}
		}
		s.sharedSaid[boot] = true
		if sk, ok := s.cfg.Enricher.(interface{ SetSharedKernel(bool) }); ok {
			sk.SetSharedKernel(true)
		}
		s.cfg.Progress("", fmt.Sprintf("nodes %s share one kernel (boot id %s): each flow is counted once, from the probe of its node",
			strings.Join(s.kernels[boot], ", "), h.BootID))
	}
	if len(h.NodeAddrs) > 0 {
		if na, ok := s.cfg.Enricher.(interface{ SetNodeAddrs(string, []string) }); ok {
			na.SetNodeAddrs(node, h.NodeAddrs)
		}
	}
	delete(s.status.NodesFailed, node)
	// A new probe counts its failed reads from zero.
	delete(s.status.NodesNotReading, node)
	s.readErr[node] = 0
	if h.HookSet != "" {
		s.status.HookSets[node] = h.HookSet
	}
	s.dirty = true
}

// leave records that node's stream ended; another probe of its kernel, if
// any, is read from now on.
func (s *Source) leave(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	boot := s.bootID[node]
	nodes := s.kernels[boot]
	for i, n := range nodes {
		if n == node {
			s.kernels[boot] = append(nodes[:i:i], nodes[i+1:]...)
			break
		}
	}
	if len(s.kernels[boot]) == 0 {
		delete(s.kernels, boot)
	}
	s.dirty = true
}

// peers returns the streaming nodes of node's kernel, in the order they
// joined, when more than one share it; nil when node has a kernel of its
// own.
func (s *Source) peers(node string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	nodes := s.kernels[s.bootID[node]]
	if len(nodes) < 2 {
		return nil
	}
	return append([]string(nil), nodes...)
}

// owns tells whether the copy of r that the probe of node streamed is the
// one to keep, among the peers that share node's kernel (nil: node has a
// kernel of its own, and every record is its). The copy from the probe of
// the node the record was placed on wins: that probe read the node's
// connection tracking, which alone knows the backend behind a Service
// address. A record placed on no streaming peer is kept from the first.
func owns(node string, peers []string, r *flow.Record) bool {
	if peers == nil {
		return true
	}
	if contains(peers, r.NodeName) {
		return r.NodeName == node
	}
	return peers[0] == node
}

// appendOwned appends the records of recs whose copy from node is the one
// to keep.
func appendOwned(dst []flow.Record, node string, peers []string, recs []flow.Record) []flow.Record {
	for i := range recs {
		if owns(node, peers, &recs[i]) {
			dst = append(dst, recs[i])
		}
	}
	return dst
}

func (s *Source) fail(node, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status.NodesFailed[node] != why {
		s.status.NodesFailed[node] = why
		s.dirty = true
	}
	// A lost node is not said to be failing its reads as well.
	if _, ok := s.status.NodesNotReading[node]; ok {
		delete(s.status.NodesNotReading, node)
		s.dirty = true
	}
}

func (s *Source) stats(node string, st *client.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost[node] != st.LostFlows || s.ring[node] != st.RingDrops || s.dropped[node] != st.DroppedRecords {
		s.lost[node], s.ring[node], s.dropped[node] = st.LostFlows, st.RingDrops, st.DroppedRecords
		s.dirty = true
	}
	// Reads that failed since the last report leave the node's flows
	// out; a report without new failures means it reads again.
	_, said := s.status.NodesNotReading[node]
	switch {
	case st.CollectErrors > s.readErr[node]:
		s.readErr[node] = st.CollectErrors
		if s.status.NodesNotReading[node] != st.LastError {
			s.status.NodesNotReading[node] = st.LastError
			s.dirty = true
			s.cfg.Progress(node, "not reading flows: "+st.LastError)
		}
	case said:
		delete(s.status.NodesNotReading, node)
		s.dirty = true
		s.cfg.Progress(node, "reading flows again")
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func joinReasons(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + m[k]
	}
	return strings.Join(parts, "; ")
}
