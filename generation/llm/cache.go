package llm

import (
	"errors"
	"fmt"
	"slices"

	"zhiwen/generation/tensor"
)

// ErrContextFull is returned when a forward pass would write past the end of
// a KV cache. The cache never slides: callers decide what to drop (for
// example by starting a new cache with a shorter prompt).
var ErrContextFull = errors.New("llm: context window is full")

// KVCache holds the attention keys and values of every layer for the tokens
// seen so far, in float32. Values are laid out [layer][kvHead][slot][headDim]
// (a cache from NewKVCache counts its kvDim as one head): attention reads
// the value rows of one KV head as one contiguous stream
// (tensor.WeightedSum). Keys are transposed a tile of tensor.TileWidth
// slots at a time, [layer][tile][kvHeads*headDim][TileWidth], so that one
// vector holds an element of eight slots' keys and the scores of a query
// against eight slots take headDim multiply-adds and no horizontal sum
// (tensor.TileScores). At a context of 2,048 in the Qwen2.5-0.5B shape the
// scores took 2.6× less time than with a dot product per slot, and decode
// went from 74–87 to 102–106 tokens/s.
//
// A cache may start with prefix slots (p-tuning v2 virtual tokens) that every
// later token attends to. Prefix keys are used as given (no RoPE is applied
// to them). By default real tokens still take RoPE positions from 0 (the
// ChatGLM convention); set PositionsAfterPrefix for the Hugging Face PEFT
// convention where they start at the prefix length.
type KVCache struct {
	// PositionsAfterPrefix shifts the RoPE positions of real tokens by the
	// prefix length.
	PositionsAfterPrefix bool

	layers   int
	kvDim    int
	headDim  int // values of one KV head, stored together (see above)
	capacity int // real-token slots
	prefix   int // prefix slots at the front of k and v
	keys     [][]float32
	values   [][]float32
	tokens   []int       // real tokens stored, in order
	adapters *AdapterSet // adapters this sequence runs with; nil for none
	// scratch holds a forward pass's activations (see scratchFloats).
	scratch []float32
	// logits is the buffer Forward returns the last token's logits in.
	logits []float32
	// free releases the memory behind keys and values (see allocate).
	free func()
	// attention holds the decoder's attention call (see Decoder.attention).
	attention *attentionJob
}

// scratchFloats returns n float32s of scratch space for one forward pass
// over this cache, reused by the next pass: a cache serves one sequence,
// one pass at a time, so a pass allocates nothing once the cache has seen
// one as large. The contents are left over from earlier passes.
func (c *KVCache) scratchFloats(n int) []float32 {
	if cap(c.scratch) < n {
		c.scratch = make([]float32, n)
	}
	return c.scratch[:n]
}

// logitsBuffer returns n float32s for a forward pass's logits, the same
// buffer every pass: a fresh vocabulary-sized slice per decoded token
// (600 KB for Qwen2) costs the page faults and zeroing of new memory and
// feeds the garbage collector, about a tenth of a small model's decode step.
func (c *KVCache) logitsBuffer(n int) []float32 {
	if cap(c.logits) < n {
		c.logits = make([]float32, n)
	}
	return c.logits[:n]
}

// NewKVCache returns an empty cache for layers layers of kvDim values per
// token with room for ctxLen tokens.
//
// The cache's memory is mapped and faulted in at once (see
// tensor.MapFloat32s), as llama.cpp clears its KV buffer when it creates a
// context: otherwise the first pass to write each page pays for its fault
// (136 µs a token, 2% of a 0.5B model's decode step, measured on a VM), and
// a server that keeps one cache for every request pays it only once.
func NewKVCache(layers, kvDim, ctxLen int) *KVCache {
	return newKVCache(layers, kvDim, kvDim, ctxLen)
}

// newKVCache is NewKVCache with each KV head's values (headDim of every
// token's kvDim) stored together.
func newKVCache(layers, kvDim, headDim, ctxLen int) *KVCache {
	if headDim <= 0 || kvDim%headDim != 0 {
		headDim = kvDim
	}
	c := &KVCache{layers: layers, kvDim: kvDim, headDim: headDim, capacity: ctxLen}
	c.keys = make([][]float32, layers)
	c.values = make([][]float32, layers)
	c.allocate()
	return c
}

// allocate gives every layer room for slots() keys and values, in one
// mapping, releasing the one before.
func (c *KVCache) allocate() {
	per := c.tileSlots() * c.kvDim
	all, free := tensor.MapFloat32s(c, 2*c.layers*per)
	for l := range c.layers {
		c.keys[l] = all[2*l*per : (2*l+1)*per : (2*l+1)*per]
		c.values[l] = all[(2*l+1)*per : (2*l+2)*per : (2*l+2)*per]
	}
	if c.free != nil {
		c.free()
	}
	c.free = free
}

// Len is the number of real tokens stored (prefix slots not counted).
func (c *KVCache) Len() int { return len(c.tokens) }

// Capacity is the number of real tokens the cache can hold.
func (c *KVCache) Capacity() int { return c.capacity }

// PrefixLen is the number of prefix slots.
func (c *KVCache) PrefixLen() int { return c.prefix }

// Tokens returns the real tokens stored, oldest first. The slice is shared;
// do not modify it.
func (c *KVCache) Tokens() []int { return c.tokens }

// Reset drops every real token and keeps the prefix.
func (c *KVCache) Reset() { c.tokens = c.tokens[:0] }

// Truncate keeps the first n real tokens and drops the rest, so a caller can
// reuse a shared prompt prefix.
func (c *KVCache) Truncate(n int) error {
	if n < 0 || n > len(c.tokens) {
		return fmt.Errorf("truncate KV cache to %d: holds %d tokens", n, len(c.tokens))
	}
	c.tokens = c.tokens[:n]
	return nil
}

// SetPrefix installs prefix keys and values for one layer; keys[i] and
// values[i] are slot i's kvHeads*headDim vectors. Every layer must get the
// same number of slots, and prefixes must be set while the cache holds no
// real tokens.
func (c *KVCache) SetPrefix(layer int, keys, values [][]float32) error {
	if layer < 0 || layer >= c.layers {
		return fmt.Errorf("set prefix: layer %d out of range [0,%d)", layer, c.layers)
	}
	if len(c.tokens) != 0 {
		return fmt.Errorf("set prefix: cache already holds %d tokens", len(c.tokens))
	}
	if len(keys) != len(values) {
		return fmt.Errorf("set prefix layer %d: %d keys but %d values", layer, len(keys), len(values))
	}
	n := len(keys)
	for i := range n {
		if len(keys[i]) != c.kvDim || len(values[i]) != c.kvDim {
			return fmt.Errorf("set prefix layer %d slot %d: want %d values, got key %d value %d",
				layer, i, c.kvDim, len(keys[i]), len(values[i]))
		}
	}
	if n != c.prefix {
		// Re-lay out every layer for the new prefix length, keeping the
		// prefix slots other layers already hold.
		keep := min(n, c.prefix)
		oldKeys, oldValues, oldFree := slices.Clone(c.keys), slices.Clone(c.values), c.free
		oldHead := c.tileSlots() * c.headDim
		c.prefix, c.free = n, nil
		c.allocate()
		newHead := c.tileSlots() * c.headDim
		for l := range c.layers {
			// Whole tiles hold the first keep slots and only slots
			// after them besides, which are set before they are read.
			copy(c.keys[l], oldKeys[l][:(keep+tensor.TileWidth-1)/tensor.TileWidth*tensor.TileWidth*c.kvDim])
			for g := range c.kvDim / c.headDim {
				copy(c.values[l][g*newHead:], oldValues[l][g*oldHead:g*oldHead+keep*c.headDim])
			}
		}
		oldFree()
	}
	for i := range n {
		c.setKey(layer, i, keys[i])
		c.setValue(layer, i, values[i])
	}
	return nil
}

// ropePos is the RoPE position of the real token at index i.
func (c *KVCache) ropePos(i int) int {
	if c.PositionsAfterPrefix {
		return i + c.prefix
	}
	return i
}

// slot is the storage slot of the real token at index i.
func (c *KVCache) slot(i int) int { return c.prefix + i }

// slots is the number of storage slots per layer (prefix + capacity).
func (c *KVCache) slots() int { return c.prefix + c.capacity }

// tileSlots is slots() rounded up to whole key tiles.
func (c *KVCache) tileSlots() int {
	return (c.slots() + tensor.TileWidth - 1) / tensor.TileWidth * tensor.TileWidth
}

// setKey stores k as the key at slot s of layer l: element e at
// tile s/TileWidth, row e, lane s mod TileWidth.
func (c *KVCache) setKey(l, s int, k []float32) {
	tile := c.keys[l][s/tensor.TileWidth*tensor.TileWidth*c.kvDim:]
	lane := s % tensor.TileWidth
	for e, v := range k[:c.kvDim] {
		tile[e*tensor.TileWidth+lane] = v
	}
}

// key returns a copy of the key at slot s of layer l.
func (c *KVCache) key(l, s int) []float32 {
	tile := c.keys[l][s/tensor.TileWidth*tensor.TileWidth*c.kvDim:]
	k := make([]float32, c.kvDim)
	for e := range k {
		k[e] = tile[e*tensor.TileWidth+s%tensor.TileWidth]
	}
	return k
}

// setValue stores v as the value at slot s of layer l, each KV head's
// part with that head's values.
func (c *KVCache) setValue(l, s int, v []float32) {
	head := c.tileSlots() * c.headDim
	for g := range c.kvDim / c.headDim {
		copy(c.values[l][g*head+s*c.headDim:g*head+(s+1)*c.headDim], v[g*c.headDim:(g+1)*c.headDim])
	}
}

// value returns a copy of the value at slot s of layer l.
func (c *KVCache) value(l, s int) []float32 {
	head := c.tileSlots() * c.headDim
	v := make([]float32, 0, c.kvDim)
	for g := range c.kvDim / c.headDim {
		v = append(v, c.values[l][g*head+s*c.headDim:g*head+(s+1)*c.headDim]...)
	}
	return v
}

// keysFrom returns layer l's key tiles from element e of tile 0 on, tiles
// keyTileStride() apart (for tensor.TileScores).
func (c *KVCache) keysFrom(l, e int) []float32 { return c.keys[l][e*tensor.TileWidth:] }

// keyTileStride is the distance between key tiles, in floats.
func (c *KVCache) keyTileStride() int { return c.kvDim * tensor.TileWidth }

// valuesFrom returns layer l's values from element e of slot 0 on, rows
// valueStride() apart (for tensor.WeightedSum); e lies in one KV head.
func (c *KVCache) valuesFrom(l, e int) []float32 {
	return c.values[l][e/c.headDim*c.tileSlots()*c.headDim+e%c.headDim:]
}

// valueStride is the distance between the value rows of one KV head.
func (c *KVCache) valueStride() int { return c.headDim }

// begin checks that n tokens can be appended after position pos, rewinding
// the cache to pos when it holds more.
func (c *KVCache) begin(layers, kvDim, pos, n int) error {
	if c == nil {
		return errors.New("forward: nil KV cache")
	}
	if c.layers != layers || c.kvDim != kvDim {
		return fmt.Errorf("forward: KV cache shaped for %d layers × %d, model has %d × %d", c.layers, c.kvDim, layers, kvDim)
	}
	if pos < 0 || pos > len(c.tokens) {
		return fmt.Errorf("forward: position %d but cache holds %d tokens", pos, len(c.tokens))
	}
	if pos+n > c.capacity {
		return fmt.Errorf("forward %d tokens at position %d (capacity %d): %w", n, pos, c.capacity, ErrContextFull)
	}
	c.tokens = c.tokens[:pos]
	return nil
}

// commit records tokens as stored after a successful forward pass.
func (c *KVCache) commit(tokens []int) { c.tokens = append(c.tokens, tokens...) }
