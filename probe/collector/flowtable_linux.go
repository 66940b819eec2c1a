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
// each lookup tends to miss the CPU caches. So the index is keyed by a
// 64-bit hash of the tuple (16-byte slots, a third of the memory of tuple
// keys: mostly cached at 50,000 flows) and the state itself holds the tuple
// to confirm the match. Tuples whose hash is taken by another tuple live in
// a second map keyed by the tuple.
type flowTable struct {
	hash     func(tupleID) uint64
	byHash   map[uint64]*flowState
	collided map[tupleID]*flowState
}

func newFlowTable() *flowTable {
	seed := maphash.MakeSeed()
	return &flowTable{
		hash:     func(id tupleID) uint64 { return maphash.Comparable(seed, id) },
		byHash:   make(map[uint64]*flowState),
		collided: make(map[tupleID]*flowState),
	}
}

// get returns the state of id, nil when there is none.
func (t *flowTable) get(id tupleID) *flowState {
	if st := t.byHash[t.hash(id)]; st != nil && st.id == id {
		return st
	}
	if len(t.collided) == 0 {
		return nil
	}
	return t.collided[id]
}

// add stores st under st.id, which get does not find.
func (t *flowTable) add(st *flowState) {
	h := t.hash(st.id)
	if t.byHash[h] == nil {
		t.byHash[h] = st
		return
	}
	t.collided[st.id] = st
}

func (t *flowTable) len() int { return len(t.byHash) + len(t.collided) }

// deleteIf drops the states for which drop returns true.
func (t *flowTable) deleteIf(drop func(*flowState) bool) {
	for h, st := range t.byHash {
		if drop(st) {
			delete(t.byHash, h)
		}
	}
	for id, st := range t.collided {
		if drop(st) {
			delete(t.collided, id)
		}
	}
}
