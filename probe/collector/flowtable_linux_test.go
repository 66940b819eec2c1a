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
