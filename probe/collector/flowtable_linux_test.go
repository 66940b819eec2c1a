//go:build linux

package collector

import "testing"

// TestFlowTableCollisions checks that tuples sharing a hash keep separate
// states, also after the first of them is dropped.
func TestFlowTableCollisions(t *testing.T) {
	tab := newFlowTable()
	tab.hash = func(tupleID) uint64 { return 7 } // every tuple collides
	ids := []tupleID{{ports: 1}, {ports: 2}, {ports: 3}}
	for i, id := range ids {
		if tab.get(id) != nil {
			t.Fatalf("tuple %d found before it was added", i)
		}
		tab.add(&flowState{id: id, lastSeen: uint64(i)})
	}
	if tab.len() != len(ids) {
		t.Fatalf("len %d, want %d", tab.len(), len(ids))
	}
	for i, id := range ids {
		if st := tab.get(id); st == nil || st.lastSeen != uint64(i) {
			t.Fatalf("tuple %d: got %+v", i, st)
		}
	}
	tab.deleteIf(func(st *flowState) bool { return st.lastSeen == 0 })
	if tab.get(ids[0]) != nil || tab.len() != 2 {
		t.Fatalf("tuple 0 not dropped: len %d", tab.len())
	}
	for i, id := range ids[1:] {
		if st := tab.get(id); st == nil || st.id != id {
			t.Fatalf("tuple %d lost after a drop", i+1)
		}
	}
	// A new tuple takes the free hash slot; the collided ones stay found.
	tab.add(&flowState{id: tupleID{ports: 4}})
	for _, id := range append(ids[1:], tupleID{ports: 4}) {
		if st := tab.get(id); st == nil || st.id != id {
			t.Fatalf("tuple %+v not found", id)
		}
	}
}

// TestFlowTableMany stores enough tuples to grow the index several times,
// finds them one by one and a chunk at a time, drops half and finds the
// rest.
func TestFlowTableMany(t *testing.T) {
	tab := newFlowTable()
	const n = 20_000
	ids := make([]tupleID, n)
	for i := range ids {
		ids[i] = tupleID{ports: uint32(i), netns: uint64(i % 3)}
		tab.add(&flowState{id: ids[i], lastSeen: uint64(i)})
	}
	if tab.len() != n {
		t.Fatalf("len %d, want %d", tab.len(), n)
	}
	missing := tupleID{ports: n + 1}
	sts := tab.getAll(append(ids[:n:n], missing), nil)
	if len(sts) != n+1 || sts[n] != nil {
		t.Fatalf("getAll returned %d states, the last %+v", len(sts), sts[len(sts)-1])
	}
	for i, st := range sts[:n] {
		if st == nil || st.id != ids[i] || st != tab.get(ids[i]) {
			t.Fatalf("tuple %d: got %+v", i, st)
		}
	}
	tab.deleteIf(func(st *flowState) bool { return st.lastSeen%2 == 0 })
	if tab.len() != n/2 {
		t.Fatalf("len %d after dropping half, want %d", tab.len(), n/2)
	}
	for i, id := range ids {
		if st := tab.get(id); (st != nil) != (i%2 == 1) {
			t.Fatalf("tuple %d after dropping the even ones: %+v", i, st)
		}
	}
}
