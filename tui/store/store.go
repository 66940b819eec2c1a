// Package store keeps the live state behind the terminal UI: one entry per
// distinct flow with its totals since the session started and a ring of
// per-second byte counts. Grouping and filtering read those entries, so a new
// grouping or filter is applied to everything seen so far at once, and the
// totals of connections that ended stay counted.
package store

import (
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
	"github.com/kubectl-netflow/kubectl-netflow/flow/query"
)

// RingLen is how many seconds of per-second counts each flow keeps: the
// longest rate window (40 s, as iftop) and the sparklines read from it.
const RingLen = 40

// Windows are the rate windows the UI offers, in seconds (iftop's three).
var Windows = []int{2, 10, 40}

// Spike detection: a group spikes when its rate over the last SpikeWindow
// seconds is at least SpikeFactor times its mean rate over the seconds
// before (its baseline, at least SpikeMinBaseline seconds of it) and at least
// SpikeMinRate bytes/s above it. The absolute floor keeps idle groups that
// send one packet from flagging.
const (
	SpikeWindow      = 2
	SpikeFactor      = 4.0
	SpikeMinRate     = 32 << 10
	SpikeMinBaseline = 8
)

// PriceFunc returns the estimated price in dollars of one byte sent and one
// byte received by a flow; zero when the flow's traffic is not priced.
type PriceFunc func(r *flow.Record) (perTxByte, perRxByte float64)

// Flow is one distinct flow: its identity fields, and in the counters of the
// embedded record its totals since the session started. TS is when it was
// last seen.
type Flow struct {
	flow.Record
	// Records is the number of records summed.
	Records int64

	last   int64 // unix second of the newest record
	tx, rx [RingLen]float32

	costTx, costRx float64

	gen     uint64
	matched bool
	group   *Group
}

// Active reports whether the flow carried traffic in the last RingLen
// seconds before now.
func (f *Flow) Active(now int64) bool { return now-f.last < RingLen }

// Group is the traffic of the flows that share the values of the group-by
// fields and match the filter.
type Group struct {
	// Key identifies the group across refreshes: its values joined.
	Key    string
	Values []string
	query.Counters
	Records int64
	// Flows counts member flows; Active is 1 when one of them was seen in
	// the last RingLen seconds, 0 otherwise.
	Flows, Active int
	// Cost is the estimated price of the totals, in dollars.
	Cost float64
	// Tx and Rx are bytes per second, oldest first; the last element is the
	// current second.
	Tx, Rx [RingLen]float64
	// Spike is set when the current rate jumps far above the group's own
	// recent baseline.
	Spike bool

	// The group's own ring, kept up to date as records arrive, so that a
	// refresh costs per group, not per flow.
	ring    [RingLen][2]float64
	last    int64 // the second ring's newest slot holds
	seen    int64 // the newest second a member was seen
	members []*Flow
}

// addAt adds bytes to the group's ring at second sec.
func (g *Group) addAt(sec int64, tx, rx float64) {
	if sec > g.last {
		for t := max(g.last+1, sec-RingLen+1); t <= sec; t++ {
			g.ring[slot(t)] = [2]float64{}
		}
		g.last = sec
	}
	if sec > g.last-RingLen {
		j := slot(sec)
		g.ring[j][0] += tx
		g.ring[j][1] += rx
	}
	g.seen = max(g.seen, sec)
}

// Members returns the flows of the group as of the last refresh.
func (g *Group) Members() []*Flow { return g.members }

// Rate returns the mean bytes per second sent and received over the last
// window seconds.
func (g *Group) Rate(window int) (tx, rx float64) {
	window = min(max(window, 1), RingLen)
	for i := RingLen - window; i < RingLen; i++ {
		tx += g.Tx[i]
		rx += g.Rx[i]
	}
	return tx / float64(window), rx / float64(window)
}

// Series returns the last n seconds of total bytes per second (sent plus
// received), oldest first, for sparklines.
func (g *Group) Series(n int) []float64 {
	n = min(n, RingLen)
	out := make([]float64, n)
	for i := range n {
		j := RingLen - n + i
		out[i] = g.Tx[j] + g.Rx[j]
	}
	return out
}

// Query is what the UI shows: a filter (nil matches everything) and the
// group-by fields.
type Query struct {
	Filter  *query.Filter
	GroupBy []*flow.Field
}

// Store holds the flows seen in a session. It is not safe for concurrent
// use: the UI owns it and touches it only in Update.
type Store struct {
	price PriceFunc

	flows map[flow.Record]*Flow
	list  []*Flow

	first, now int64
	records    int64

	q      Query
	gen    uint64
	varies bool
	stale  bool
	groups map[string]*Group
	glist  []*Group

	filterErrors int64
	filterErr    error
	keyBuf       []byte
}

// New returns an empty Store. price may be nil.
func New(price PriceFunc) *Store {
	return &Store{
		price:  price,
		flows:  make(map[flow.Record]*Flow),
		groups: make(map[string]*Group),
		gen:    1,
	}
}

// Ingest adds records. Their timestamps drive the store's clock: a recording
// replays with its own time, a live cluster with the nodes' time.
func (s *Store) Ingest(rs []flow.Record) {
	for i := range rs {
		s.add(&rs[i])
	}
}

func (s *Store) add(r *flow.Record) {
	k := *r
	k.TS = time.Time{}
	k.TxBytes, k.RxBytes, k.TxPackets, k.RxPackets = 0, 0, 0, 0
	f := s.flows[k]
	if f == nil {
		f = &Flow{Record: k, last: -1 << 62}
		if s.price != nil {
			f.costTx, f.costRx = s.price(&k)
		}
		s.flows[k] = f
		s.list = append(s.list, f)
	}
	sec := s.now
	if !r.TS.IsZero() {
		sec = r.TS.Unix()
		if r.TS.After(f.TS) {
			f.TS = r.TS
		}
	}
	if s.first == 0 || sec < s.first {
		s.first = sec
	}
	if sec > s.now {
		s.now = sec
	}
	if f.gen != s.gen && !s.stale && !s.varies {
		s.assign(f)
	}
	f.Add(r)
	f.Records++
	s.records++
	if f.matched && f.gen == s.gen && !s.stale && !s.varies {
		g := f.group
		g.Add(r)
		g.Records++
		g.Cost += float64(r.TxBytes)*f.costTx + float64(r.RxBytes)*f.costRx
		g.addAt(sec, float64(r.TxBytes), float64(r.RxBytes))
	}

	if sec > f.last {
		// Clear the slots of the seconds the flow was silent.
		for t := max(f.last+1, sec-RingLen+1); t <= sec; t++ {
			j := slot(t)
			f.tx[j], f.rx[j] = 0, 0
		}
		f.last = sec
	}
	if sec > f.last-RingLen {
		j := slot(sec)
		f.tx[j] += float32(r.TxBytes)
		f.rx[j] += float32(r.RxBytes)
	}
}

func slot(sec int64) int {
	j := int(sec % RingLen)
	if j < 0 {
		j += RingLen
	}
	return j
}

// Advance moves the clock to sec when it is later, so that rates fall when
// a live source goes quiet.
func (s *Store) Advance(sec int64) {
	if sec > s.now {
		s.now = sec
	}
}

// Now returns the store's clock: the newest second seen, or as advanced.
func (s *Store) Now() time.Time { return time.Unix(s.now, 0) }

// Span returns the first and the newest second seen.
func (s *Store) Span() (first, last time.Time) {
	if s.records == 0 {
		return time.Time{}, time.Time{}
	}
	return time.Unix(s.first, 0), time.Unix(s.now, 0)
}

// Len returns the number of distinct flows seen.
func (s *Store) Len() int { return len(s.list) }

// Records returns the number of records ingested.
func (s *Store) Records() int64 { return s.records }

// ActiveFlows returns the number of flows seen in the last RingLen seconds.
func (s *Store) ActiveFlows() int {
	n := 0
	for _, f := range s.list {
		if f.Active(s.now) {
			n++
		}
	}
	return n
}

// FilterErrors returns how many flows the filter failed on during the last
// refresh, and the first error.
func (s *Store) FilterErrors() (int64, error) { return s.filterErrors, s.filterErr }

// SetQuery changes the filter and grouping. The next Refresh applies it to
// every flow seen so far.
func (s *Store) SetQuery(q Query) {
	s.q = q
	s.gen++
	s.varies = q.Filter != nil && q.Filter.Varies()
	s.stale = true
}

// assign matches a flow against the query and adds it to its group, empty.
func (s *Store) assign(f *Flow) {
	f.gen = s.gen
	f.matched = s.match(f)
	f.group = nil
	if f.matched {
		f.group = s.groupOf(f)
		f.group.Flows++
		f.group.members = append(f.group.members, f)
	}
}

// Query returns the current query.
func (s *Store) Query() Query { return s.q }

// Refresh brings the groups to the current clock and returns them in the
// order they first appeared. Records update their group as they arrive, so
// a refresh costs per group; after SetQuery, or with a filter on counters,
// it regroups every flow seen so far. The groups are valid until the next
// Refresh.
func (s *Store) Refresh() []*Group {
	if s.stale || s.varies {
		s.rebuild()
	}
	for _, g := range s.glist {
		for i := range RingLen {
			t := s.now - int64(RingLen-1-i)
			if t <= g.last && t > g.last-RingLen {
				v := g.ring[slot(t)]
				g.Tx[i], g.Rx[i] = v[0], v[1]
			} else {
				g.Tx[i], g.Rx[i] = 0, 0
			}
		}
		g.Active = 0
		if s.now-g.seen < RingLen {
			g.Active = 1
		}
		g.Spike = s.spike(g)
	}
	return s.glist
}

// rebuild regroups every flow under the current query.
func (s *Store) rebuild() {
	s.stale = false
	clear(s.groups)
	clear(s.glist)
	s.glist = s.glist[:0]
	s.filterErrors, s.filterErr = 0, nil
	for _, f := range s.list {
		s.assign(f)
		if !f.matched {
			continue
		}
		g := f.group
		g.TxBytes += f.TxBytes
		g.RxBytes += f.RxBytes
		g.TxPackets += f.TxPackets
		g.RxPackets += f.RxPackets
		g.Records += f.Records
		g.Cost += float64(f.TxBytes)*f.costTx + float64(f.RxBytes)*f.costRx
		if g.last < s.now {
			g.last = s.now
		}
		for t := max(s.now-RingLen+1, f.last-RingLen+1); t <= f.last; t++ {
			j := slot(t)
			g.ring[j][0] += float64(f.tx[j])
			g.ring[j][1] += float64(f.rx[j])
		}
		g.seen = max(g.seen, f.last)
	}
}

// addSeries adds the per-second counts of f to the series, aligned so that
// the last element is the store's current second.
func (s *Store) addSeries(tx, rx *[RingLen]float64, f *Flow) {
	// Seconds after f.last are silent; seconds at or before now-RingLen are
	// out of the series.
	for t := max(s.now-RingLen+1, f.last-RingLen+1); t <= f.last; t++ {
		i := RingLen - 1 - int(s.now-t)
		j := slot(t)
		tx[i] += float64(f.tx[j])
		rx[i] += float64(f.rx[j])
	}
}

// FlowGroup returns a one-flow group for f, with the values of fields, so
// that a drill-down can show member flows like groups.
func (s *Store) FlowGroup(f *Flow, fields []*flow.Field) *Group {
	g := &Group{Values: make([]string, len(fields)), Records: f.Records, Flows: 1, members: []*Flow{f}}
	for i, fd := range fields {
		g.Values[i] = fd.Format(&f.Record)
	}
	g.Key = s.flowKey(f)
	g.TxBytes, g.RxBytes, g.TxPackets, g.RxPackets = f.TxBytes, f.RxBytes, f.TxPackets, f.RxPackets
	g.Cost = float64(f.TxBytes)*f.costTx + float64(f.RxBytes)*f.costRx
	if f.Active(s.now) {
		g.Active = 1
		s.addSeries(&g.Tx, &g.Rx, f)
	}
	g.Spike = s.spike(g)
	return g
}

// flowKey identifies a flow across refreshes by all its identity fields.
func (s *Store) flowKey(f *Flow) string {
	b := s.keyBuf[:0]
	for i := range flow.Fields {
		fd := &flow.Fields[i]
		if fd.Varies() {
			continue
		}
		b = fd.AppendFormat(b, &f.Record)
		b = append(b, 0)
	}
	s.keyBuf = b
	return string(b)
}

func (s *Store) spike(g *Group) bool {
	var cur, base float64
	for i := RingLen - SpikeWindow; i < RingLen; i++ {
		cur += g.Tx[i] + g.Rx[i]
	}
	cur /= SpikeWindow
	// The baseline covers the seconds before the spike window since the
	// session started, not the seconds before anything was seen.
	from := max(0, RingLen-1-int(s.now-s.first))
	n := RingLen - SpikeWindow - from
	if n < SpikeMinBaseline {
		return false
	}
	for i := from; i < RingLen-SpikeWindow; i++ {
		base += g.Tx[i] + g.Rx[i]
	}
	base /= float64(n)
	return cur >= SpikeFactor*base && cur-base >= SpikeMinRate
}

func (s *Store) match(f *Flow) bool {
	if s.q.Filter == nil {
		return true
	}
	ok, err := s.q.Filter.Match(&f.Record)
	if err != nil {
		s.filterErrors++
		if s.filterErr == nil {
			s.filterErr = err
		}
		return false
	}
	return ok
}

func (s *Store) groupOf(f *Flow) *Group {
	// The key is built in a reused buffer; looking it up copies nothing,
	// so only a new group allocates.
	b := s.keyBuf[:0]
	for _, fd := range s.q.GroupBy {
		b = fd.AppendFormat(b, &f.Record)
		b = append(b, 0)
	}
	s.keyBuf = b
	if g, ok := s.groups[string(b)]; ok {
		return g
	}
	key := string(b)
	g := &Group{Key: key, Values: make([]string, len(s.q.GroupBy)), last: s.now, seen: -1 << 62}
	for i, fd := range s.q.GroupBy {
		g.Values[i] = fd.Format(&f.Record)
	}
	s.groups[key] = g
	s.glist = append(s.glist, g)
	return g
}
