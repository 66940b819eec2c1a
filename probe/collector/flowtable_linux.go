//go:build linux

package collector

import (
	"hash/maphash"

	"github.com/kubectl-netflow/kubectl-netflow/bpf"
)

// tupleID is a flow's socket tuple in a compact, flat form. It has no
// padding, so it hashes and compares as one block of memory.
type tupleID struct {
	local, remote [16]byte
	ports         uint32 // local port << 16 | remote port
	proto         uint32
	netns         uint64 // 0 where the kernel does not tell namespaces apart
}

func tupleOf(f *bpf.Flow) tupleID {
	return tupleID{
		local: f.Local.Addr().As16(), remote: f.Remote.Addr().As16(),
		ports: uint32(f.Local.Port())<<16 | uint32(f.Remote.Port()), proto: uint32(f.Proto),
		netns: f.Netns,
	}
}

// flowTable holds the remembered state of every tuple. Every flow of every
// interval is looked up in it, in the kernel map's order, which is random:
// each lookup misses the CPU caches. So the index is an open-addressing
// table of 16-byte slots keyed by a 64-bit hash of the tuple, which getAll
// probes a chunk at a time: one pass touches the slots (independent loads,
// whose cache misses overlap), the next finds them in the cache. The state
// itself holds the tuple to confirm the match. Tuples whose hash is taken
// by another tuple live in a second map keyed by the tuple.
type flowTable struct {
	hash     func(tupleID) uint64
	index    hashIndex
	collided map[tupleID]*flowState
	hashes   []uint64
}

func newFlowTable() *flowTable {
	seed := maphash.MakeSeed()
	return &flowTable{
		hash:     func(id tupleID) uint64 { return maphash.Comparable(seed, id) },
		collided: make(map[tupleID]*flowState),
	}
}

// get returns the state of id, nil when there is none.
func (t *flowTable) get(id tupleID) *flowState {
	return t.confirm(id, t.index.find(t.hash(id)))
}

// getAll appends the state of each of ids (nil where there is none) to sts.
func (t *flowTable) getAll(ids []tupleID, sts []*flowState) []*flowState {
	t.hashes = t.hashes[:0]
	for i := range ids {
		t.hashes = append(t.hashes, t.hash(ids[i]))
	}
	t.index.touch(t.hashes)
	for _, h := range t.hashes {
		sts = append(sts, t.index.find(h))
	}
	for i, st := range sts[len(sts)-len(ids):] {
		sts[len(sts)-len(ids)+i] = t.confirm(ids[i], st)
	}
	return sts
}

func (t *flowTable) confirm(id tupleID, st *flowState) *flowState {
	if st != nil && st.id == id {
		return st
	}
	if len(t.collided) == 0 {
		return nil
	}
	return t.collided[id]
}

// add stores st under st.id, which get does not find.
func (t *flowTable) add(st *flowState) {
	if !t.index.insert(t.hash(st.id), st) {
		t.collided[st.id] = st
	}
}

func (t *flowTable) len() int { return t.index.n + len(t.collided) }

// deleteIf drops the states for which drop returns true.
func (t *flowTable) deleteIf(drop func(*flowState) bool) {
	t.index.rebuild(func(st *flowState) bool { return !drop(st) })
	for id, st := range t.collided {
		if drop(st) {
			delete(t.collided, id)
		}
	}
}

// hashIndex maps 64-bit hashes to states: linear probing over a power of
// two of slots, at most half of them used. An empty slot has a nil state.
type hashIndex struct {
	slots []hashSlot
	n     int
	sink  uint64
}

type hashSlot struct {
	hash uint64
	st   *flowState
}

func (x *hashIndex) find(h uint64) *flowState {
	if len(x.slots) == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.st == nil {
			return nil
		}
		if s.hash == h {
			return s.st
		}
	}
}

// touch loads the first slot of each hash, so that the finds that follow
// hit the cache.
func (x *hashIndex) touch(hs []uint64) {
	if len(x.slots) == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	var sum uint64
	for _, h := range hs {
		sum += x.slots[h&mask].hash
	}
	x.sink = sum // keeps the loads
}

// insert stores st under h and reports true, or reports false when h is
// already taken.
func (x *hashIndex) insert(h uint64, st *flowState) bool {
	if 2*(x.n+1) > len(x.slots) {
		x.resize(max(1024, 2*len(x.slots)))
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.st == nil {
			*s = hashSlot{h, st}
			x.n++
			return true
		}
		if s.hash == h {
			return false
		}
	}
}

// rebuild keeps the states for which keep, a pure predicate, returns true,
// in a table sized for them.
func (x *hashIndex) rebuild(keep func(*flowState) bool) {
	old := x.slots
	n := 0
	for _, s := range old {
		if s.st != nil && keep(s.st) {
			n++
		}
	}
	if n == x.n {
		return
	}
	size := 1024
	for size < 4*n {
		size *= 2
	}
	x.slots, x.n = make([]hashSlot, size), 0
	for _, s := range old {
		if s.st != nil && keep(s.st) {
			x.insert(s.hash, s.st)
		}
	}
}

func (x *hashIndex) resize(size int) {
	old := x.slots
	x.slots, x.n = make([]hashSlot, size), 0
	for _, s := range old {
		if s.st != nil {
			x.insert(s.hash, s.st)
		}
	}
}
