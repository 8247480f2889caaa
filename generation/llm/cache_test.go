package llm

import (
	"context"
	"testing"

	"zhiwen/generation/tensor"
)

func TestKVCachePrefixLayout(t *testing.T) {
	c := NewKVCache(2, 3, 4)
	vec := func(base float32) []float32 { return []float32{base, base + 1, base + 2} }
	for l := range 2 {
		keys := [][]float32{vec(float32(100 * l)), vec(float32(100*l + 10))}
		values := [][]float32{vec(float32(100*l + 50)), vec(float32(100*l + 60))}
		if err := c.SetPrefix(l, keys, values); err != nil {
			t.Fatal(err)
		}
	}
	if c.PrefixLen() != 2 || c.Len() != 0 || c.Capacity() != 4 {
		t.Fatalf("prefix %d len %d cap %d", c.PrefixLen(), c.Len(), c.Capacity())
	}
	for l := range 2 {
		for s := range 2 {
			wantK := float32(100*l + 10*s)
			if got := c.key(l, s); got[0] != wantK || got[2] != wantK+2 {
				t.Errorf("layer %d slot %d key %v", l, s, got)
			}
			wantV := float32(100*l + 50 + 10*s)
			for e := range 3 {
				if got := c.value(l, s)[e]; got != wantV+float32(e) {
					t.Errorf("layer %d slot %d value[%d] = %v, want %v", l, s, e, got, wantV+float32(e))
				}
			}
		}
	}
	if c.slot(0) != 2 || c.ropePos(0) != 0 {
		t.Errorf("slot %d ropePos %d", c.slot(0), c.ropePos(0))
	}
	c.PositionsAfterPrefix = true
	if c.ropePos(1) != 3 {
		t.Errorf("PEFT convention: ropePos(1) = %d, want 3", c.ropePos(1))
	}
	if err := c.SetPrefix(0, [][]float32{{1, 2}}, [][]float32{{1, 2}}); err == nil {
		t.Error("wrong-width prefix accepted")
	}
}

func TestKVCacheRejectedPrefixKeepsState(t *testing.T) {
	c := NewKVCache(1, 2, 4)
	if err := c.SetPrefix(0, [][]float32{{1, 2}, {3, 4}}, [][]float32{{5, 6}, {7, 8}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPrefix(0, [][]float32{{1}}, [][]float32{{1}}); err == nil {
		t.Fatal("wrong-width prefix accepted")
	}
	if c.PrefixLen() != 2 || c.key(0, 1)[1] != 4 || c.value(0, 1)[1] != 8 {
		t.Fatalf("rejected prefix changed the cache: prefix %d", c.PrefixLen())
	}
}

// TestDecodeStepDoesNotAllocate: once a KV cache has served a pass, a
// decode step allocates nothing (logits, activations and the attention
// call live in the cache), so that a long generation never wakes the
// garbage collector; for every architecture and a mixed-type file.
func TestDecodeStepDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	for _, c := range []struct {
		arch string
		typ  tensor.DType
	}{{"qwen2", tensor.Q4_0}, {"llama", tensor.Q8_0}, {"chatglm", tensor.Q4_K}, {"qwen2", tensor.F16}} {
		_, m := tinyModel(t, c.arch, c.typ)
		ctx := context.Background()
		cache := m.NewCache(64)
		logits, err := m.Forward(ctx, []int{1, 2, 3}, 0, cache)
		if err != nil {
			t.Fatal(err)
		}
		pos := 3
		a := testing.AllocsPerRun(20, func() {
			if logits, err = m.Forward(ctx, []int{argmax(logits)}, pos, cache); err != nil {
				t.Fatal(err)
			}
			pos++
		})
		if a != 0 {
			t.Errorf("%s %s: a decode step allocates %v times", c.arch, c.typ, a)
		}
	}
}
