package query

import (
	"cmp"
	"fmt"
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

// The identity fields of a record, projected on a subset, make the key of a
// map. Each identity field owns a slot; fields outside the projection keep
// their zero value so that they do not split keys.
const (
	maxStrSlots = 24
	maxIntSlots = 8
)

type key struct {
	s [maxStrSlots]string
	n [maxIntSlots]int64
}

var slotOf = func() []int {
	slots := make([]int, len(flow.Fields))
	var s, n int
	for i := range flow.Fields {
		f := &flow.Fields[i]
		switch {
		case f.Varies():
			slots[i] = -1
		case f.Type == flow.TypeInt:
			slots[i], n = n, n+1
		default:
			slots[i], s = s, s+1
		}
	}
	if s > maxStrSlots || n > maxIntSlots {
		panic("query: the field table outgrew the key slots")
	}
	return slots
}()

type projection []*flow.Field

func (p projection) key(r *flow.Record) key {
	var k key
	for _, f := range p {
		if f.Type == flow.TypeInt {
			k.n[slotOf[f.Index]] = f.Num(r)
		} else {
			k.s[slotOf[f.Index]] = f.Str(r)
		}
	}
	return k
}

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
	cacheBy projection
	cache   map[key]*Group
	groups  map[key]*Group
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
		groups:  make(map[key]*Group),
	}
	if filter != nil && !filter.Varies() {
		a.cacheBy = slices.Clone(projection(groupBy))
		for _, f := range filter.Fields() {
			if !slices.Contains(a.cacheBy, f) {
				a.cacheBy = append(a.cacheBy, f)
			}
		}
		a.cache = make(map[key]*Group)
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
		k := a.cacheBy.key(r)
		var ok bool
		if g, ok = a.cache[k]; !ok {
			if len(a.cache) >= maxCached {
				clear(a.cache)
			}
			g = a.match(r)
			a.cache[k] = g
		}
	default:
		g = a.match(r)
	}
	if g != nil {
		g.Counters.Add(r)
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
	k := a.groupBy.key(r)
	if g, ok := a.groups[k]; ok {
		return g
	}
	g := &Group{Values: make([]any, len(a.groupBy))}
	for i, f := range a.groupBy {
		if f.Type == flow.TypeInt {
			g.Values[i] = f.Num(r)
		} else {
			g.Values[i] = f.Str(r)
		}
	}
	a.groups[k] = g
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
