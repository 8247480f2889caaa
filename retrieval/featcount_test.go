package retrieval

import "testing"

// TestFeatTableCounts checks the embedder's hash table against a map,
// through growth and reuse.
func TestFeatTableCounts(t *testing.T) {
	var tf featTable
	for round, n := range []int{10, 5000, 3} {
		tf.reset(n / 4) // too small on purpose: the table must grow
		want := map[uint64]int32{}
		var order []uint64
		for i := range n {
			h := uint64(i%(n/2+1)) * 0x9e3779b97f4a7c15
			if h == 0 {
				h = 1
			}
			if _, ok := want[h]; !ok {
				order = append(order, h)
			}
			want[h]++
			tf.add(h)
		}
		if len(tf.order) != len(order) {
			t.Fatalf("round %d: %d features, want %d", round, len(tf.order), len(order))
		}
		for j, h := range tf.order {
			if h != order[j] || tf.vals[j].n != want[h] {
				t.Fatalf("round %d: feature %d = %x ×%d, want %x ×%d", round, j, h, tf.vals[j].n, order[j], want[h])
			}
		}
	}
}
