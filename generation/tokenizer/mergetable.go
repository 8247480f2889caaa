package tokenizer

import "math/bits"

// mergeTable maps a pair of token ids to its merge rule. It is an
// open-addressing hash table with the key and value in one 16-byte slot, so
// a lookup usually costs one cache miss; BPE spends most of its time here.
type mergeTable struct {
	slots []mergeSlot
	shift uint
	count int
}

type mergeSlot struct {
	key uint64 // pairKey, or emptySlot
	merge
}

const emptySlot = ^uint64(0)

// newMergeTable sizes a table for n rules at a load factor between 3/8 and
// 3/4 (Qwen2: 151k rules in 2^18 slots, 4 MiB).
func newMergeTable(n int) *mergeTable {
	size := 1 << max(4, bits.Len(uint(n+n/3)))
	t := &mergeTable{slots: make([]mergeSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	for i := range t.slots {
		t.slots[i].key = emptySlot
	}
	return t
}

func (t *mergeTable) home(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> t.shift }

// get returns the rule for (left, right).
func (t *mergeTable) get(left, right int) (merge, bool) {
	key := pairKey(left, right)
	mask := uint64(len(t.slots) - 1)
	for i := t.home(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key {
			return s.merge, true
		}
		if s.key == emptySlot {
			return merge{}, false
		}
	}
}

// add inserts a rule unless the pair already has one (the first, lowest
// rank wins). The table must have been sized for all rules.
func (t *mergeTable) add(left, right int, m merge) {
	key := pairKey(left, right)
	mask := uint64(len(t.slots) - 1)
	for i := t.home(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key {
			return
		}
		if s.key == emptySlot {
			s.key, s.merge = key, m
			t.count++
			return
		}
	}
}
