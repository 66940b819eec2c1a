package query

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-netflow/kubectl-netflow/flow"
)

// DefaultGroupBy is the grouping when none is asked for: who talks to whom,
// workload to workload across namespaces.
var DefaultGroupBy = []string{"ns", "workload_name", "dst_ns", "dst_workload_name", "dst_workload_kind"}

// SortKey orders groups by traffic.
type SortKey int

// Sort keys.
const (
	SortTotal SortKey = iota
	SortTx
	SortRx
)

var sortKeyNames = []string{"total", "tx", "rx"}

// SortKeyNames lists the names ParseSortKey accepts.
func SortKeyNames() []string { return slices.Clone(sortKeyNames) }

func (k SortKey) String() string { return sortKeyNames[k] }

// ParseSortKey parses tx, rx or total.
func ParseSortKey(s string) (SortKey, error) {
	if i := slices.Index(sortKeyNames, s); i >= 0 {
		return SortKey(i), nil
	}
	return 0, fmt.Errorf("unknown sort key %q; valid keys: %s", s, strings.Join(sortKeyNames, ", "))
}

// Counters are summed traffic counters.
type Counters struct {
	TxBytes   int64
	RxBytes   int64
	TxPackets int64
	RxPackets int64
}

// Add adds the counters of r.
func (c *Counters) Add(r *flow.Record) {
	c.TxBytes += r.TxBytes
	c.RxBytes += r.RxBytes
	c.TxPackets += r.TxPackets
	c.RxPackets += r.RxPackets
}

// Total is the bytes sent and received.
func (c *Counters) Total() int64 { return c.TxBytes + c.RxBytes }

func (c *Counters) by(k SortKey) int64 {
	switch k {
	case SortTx:
		return c.TxBytes
	case SortRx:
		return c.RxBytes
	default:
		return c.Total()
	}
}

// Group is the traffic of all matching records that share the values of the
// group-by fields.
type Group struct {
	// Values holds the group-by values in group-by order: a string, or an
	// int64 for int fields.
	Values []any
	Counters
	// Records is the number of records summed.
	Records int64
}

// Key returns the values as text, as tables show them.
func (g *Group) Key() []string {
	s := make([]string, len(g.Values))
	for i, v := range g.Values {
		s[i] = fmt.Sprint(v)
	}
	return s
}

// table maps the values of some identity fields of a record (a projection)
// to a group. It hashes only the projected fields and keeps their values to
// tell apart the rare hashes that collide, so a key costs a few string
// hashes rather than a comparison of every field.
type table struct {
	proj projection
	seed maphash.Seed
	m    map[uint64]*entry
}

type entry struct {
	// vals holds the projected values in projection order: a string, or an
	// int64 for int fields. A group's entry shares the group's Values.
	vals  []any
	group *Group
	next  *entry
}

type projection []*flow.Field

func newTable(proj projection) *table {
	return &table{proj: proj, seed: maphash.MakeSeed(), m: make(map[uint64]*entry)}
}

func (t *table) hash(r *flow.Record) uint64 {
	var h uint64 = 0x9e3779b97f4a7c15
	for _, f := range t.proj {
		var v uint64
		if f.Type == flow.TypeInt {
			v = uint64(f.Num(r))
		} else {
			v = maphash.String(t.seed, f.Str(r))
		}
		h = bits.RotateLeft64(h^v, 27) * 0x94d049bb133111eb
	}
	return h
}

func (t *table) get(r *flow.Record) (g *Group, h uint64, ok bool) {
	h = t.hash(r)
	for e := t.m[h]; e != nil; e = e.next {
		if e.matches(t.proj, r) {
			return e.group, h, true
		}
	}
	return nil, h, false
}

func (t *table) put(h uint64, vals []any, g *Group) {
	t.m[h] = &entry{vals: vals, group: g, next: t.m[h]}
}

func (p projection) values(r *flow.Record) []any {
	vals := make([]any, len(p))
	for i, f := range p {
		if f.Type == flow.TypeInt {
			vals[i] = f.Num(r)
		} else {
			vals[i] = f.Str(r)
		}
	}
	return vals
}

func (e *entry) matches(proj projection, r *flow.Record) bool {
	for i, f := range proj {
		if f.Type == flow.TypeInt {
			if n, _ := e.vals[i].(int64); n != f.Num(r) {
				return false
			}
		} else if s, _ := e.vals[i].(string); s != f.Str(r) {
			return false
		}
	}
	return true
}

func (t *table) len() int { return len(t.m) }

func (t *table) reset() { clear(t.m) }

// maxCached bounds the memory of remembered filter results; past it the
// memory starts over.
const maxCached = 1 << 20

// Aggregator sums the records that match a filter into groups. Records of
// one flow repeat every interval with the same identity fields, so the
// filter is evaluated once per distinct combination of the fields it reads
// and the group-by fields, not once per record. An Aggregator is not safe
// for concurrent use.
type Aggregator struct {
	filter  *Filter
	groupBy projection
	cache   *table
	groups  *table
	order   []*Group

	minTS, maxTS, lastTS time.Time
	tick                 time.Duration

	filterErrors int64
	filterErr    error
}

// NewAggregator returns an Aggregator for a filter (nil matches everything)
// and the group-by fields.
func NewAggregator(filter *Filter, groupBy []*flow.Field) *Aggregator {
	a := &Aggregator{
		filter:  filter,
		groupBy: groupBy,
		groups:  newTable(groupBy),
	}
	if filter != nil && !filter.Varies() {
		cacheBy := slices.Clone(projection(groupBy))
		for _, f := range filter.Fields() {
			if !slices.Contains(cacheBy, f) {
				cacheBy = append(cacheBy, f)
			}
		}
		a.cache = newTable(cacheBy)
	}
	return a
}

// GroupBy returns the group-by fields.
func (a *Aggregator) GroupBy() []*flow.Field { return a.groupBy }

// Add adds a record.
func (a *Aggregator) Add(r *flow.Record) {
	a.observe(r.TS)
	var g *Group
	switch {
	case a.filter == nil:
		g = a.group(r)
	case a.cache != nil:
		var h uint64
		var ok bool
		if g, h, ok = a.cache.get(r); !ok {
			if a.cache.len() >= maxCached {
				a.cache.reset()
			}
			g = a.match(r)
			a.cache.put(h, a.cache.proj.values(r), g)
		}
	default:
		g = a.match(r)
	}
	if g != nil {
		g.Add(r)
		g.Records++
	}
}

// AddAll adds a batch of records.
func (a *Aggregator) AddAll(rs []flow.Record) {
	for i := range rs {
		a.Add(&rs[i])
	}
}

func (a *Aggregator) match(r *flow.Record) *Group {
	ok, err := a.filter.Match(r)
	if err != nil {
		a.filterErrors++
		if a.filterErr == nil {
			a.filterErr = err
		}
		return nil
	}
	if !ok {
		return nil
	}
	return a.group(r)
}

func (a *Aggregator) group(r *flow.Record) *Group {
	g, h, ok := a.groups.get(r)
	if ok {
		return g
	}
	g = &Group{Values: a.groupBy.values(r)}
	a.groups.put(h, g.Values, g)
	a.order = append(a.order, g)
	return g
}

func (a *Aggregator) observe(ts time.Time) {
	if ts.IsZero() || ts.Equal(a.lastTS) {
		return
	}
	if a.minTS.IsZero() || ts.Before(a.minTS) {
		a.minTS = ts
	}
	if ts.After(a.maxTS) {
		a.maxTS = ts
	}
	if !a.lastTS.IsZero() {
		if d := ts.Sub(a.lastTS).Abs(); d > 0 && (a.tick == 0 || d < a.tick) {
			a.tick = d
		}
	}
	a.lastTS = ts
}

// Window is the time the records cover: from the start of the first
// interval to the end of the last. The interval is the smallest step between
// timestamps, one second when there is a single timestamp.
func (a *Aggregator) Window() time.Duration {
	if a.maxTS.IsZero() {
		return 0
	}
	tick := a.tick
	if tick == 0 {
		tick = time.Second
	}
	return a.maxTS.Sub(a.minTS) + tick
}

// FilterErrors returns how many records the filter failed on, and the first
// error.
func (a *Aggregator) FilterErrors() (int64, error) { return a.filterErrors, a.filterErr }

// Groups returns the groups in the order they first appeared.
func (a *Aggregator) Groups() []*Group { return slices.Clone(a.order) }

// Sort orders groups by the sort key, largest first (smallest first when
// reverse), with ties broken by the group values so the order is stable.
func Sort(groups []*Group, by SortKey, reverse bool) {
	slices.SortFunc(groups, func(x, y *Group) int {
		c := cmp.Compare(y.by(by), x.by(by))
		if reverse {
			c = -c
		}
		if c != 0 {
			return c
		}
		return compareValues(x.Values, y.Values)
	})
}

func compareValues(x, y []any) int {
	for i := range min(len(x), len(y)) {
		var c int
		switch xv := x[i].(type) {
		case int64:
			yv, _ := y[i].(int64)
			c = cmp.Compare(xv, yv)
		case string:
			yv, _ := y[i].(string)
			c = strings.Compare(xv, yv)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x), len(y))
}
