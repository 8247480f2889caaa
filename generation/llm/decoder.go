package llm

import (
	"context"
	"fmt"
	"math"
	"slices"

	"zhiwen/generation/tensor"
)

// linear is y = W·x (+ b) over a (possibly quantized) weight matrix.
type linear struct {
	w *tensor.Matrix
	b []float32
}

func (l linear) ok() bool { return l.w != nil }

// apply computes dst (n×Rows) from x (n×Cols). For a single token, next
// names the matrices of the product after this one, which the kernels
// then read ahead (see tensor.MatVecsThen).
func (l linear) apply(dst, x []float32, n int, next ...*tensor.Matrix) {
	rows, cols := l.w.Rows, l.w.Cols
	if n == 1 {
		dsts, ws := [1][]float32{dst[:rows]}, [1]*tensor.Matrix{l.w}
		tensor.MatVecsThen(dsts[:], ws[:], x[:cols], next...)
	} else {
		tensor.MatMul(dst[:n*rows], l.w, x[:n*cols], n)
	}
	if l.b != nil {
		for i := range n {
			row := dst[i*rows : (i+1)*rows]
			for j, b := range l.b {
				row[j] += b
			}
		}
	}
}

// applyShared computes dsts[i] = ls[i](x) for linears that read the same
// input. A single token goes through tensor.MatVecsThen, which quantizes x
// once and splits all the matrices' rows across threads as one job, then
// reads next ahead.
func applyShared(dsts [][]float32, ls []linear, x []float32, n int, next ...*tensor.Matrix) {
	if n != 1 {
		for i, l := range ls {
			l.apply(dsts[i], x, n)
		}
		return
	}
	var wsArr [3]*tensor.Matrix // q, k, v at most: no allocation
	var outArr [3][]float32
	ws, out := wsArr[:len(ls)], outArr[:len(ls)]
	for i, l := range ls {
		ws[i], out[i] = l.w, dsts[i][:l.w.Rows]
	}
	tensor.MatVecsThen(out, ws, x[:ls[0].w.Cols], next...)
	for i, l := range ls {
		for j, b := range l.b {
			out[i][j] += b
		}
	}
}

// decoderLayer holds one transformer block's weights. Either qkv (fused, as
// ChatGLM stores it) or q, k, v are set; either gateUp (fused, gate rows
// first) or gate and up.
type decoderLayer struct {
	attnNorm     []float32
	qkv, q, k, v linear
	o            linear
	ffnNorm      []float32
	gateUp       linear
	gate, up     linear
	down         linear
}

// qkvMats returns the matrices of the layer's q, k, v product, in buf.
func (ly *decoderLayer) qkvMats(buf *[3]*tensor.Matrix) []*tensor.Matrix {
	if ly.qkv.ok() {
		buf[0] = ly.qkv.w
		return buf[:1]
	}
	buf[0], buf[1], buf[2] = ly.q.w, ly.k.w, ly.v.w
	return buf[:3]
}

// upMats returns the matrices of the layer's gate and up product, in buf.
func (ly *decoderLayer) upMats(buf *[3]*tensor.Matrix) []*tensor.Matrix {
	if ly.gateUp.ok() {
		buf[0] = ly.gateUp.w
		return buf[:1]
	}
	buf[0], buf[1] = ly.gate.w, ly.up.w
	return buf[:2]
}

// Decoder is a pre-norm causal transformer with RMSNorm, RoPE, grouped-query
// attention and a SwiGLU feed-forward block: the shape shared by qwen2,
// llama and chatglm, which differ in biases, fused projections and RoPE
// pairing. A Decoder holds no per-sequence state: it is safe for concurrent
// use as long as each goroutine has its own KVCache.
type Decoder struct {
	cfg        Config
	tokenEmbd  *tensor.Matrix // vocab × hidden
	layers     []decoderLayer
	outputNorm []float32
	output     *tensor.Matrix // vocab × hidden (may be tokenEmbd)
	rope       *rope

	defaultCacheLen int // NewCache(0) size
}

// Config describes the model's shape.
func (d *Decoder) Config() Config { return d.cfg }

// NewCache returns an empty KV cache for ctxLen tokens; ctxLen ≤ 0 means
// LoadOptions.ContextLen if set, else the model's context length capped at
// DefaultContextLen.
func (d *Decoder) NewCache(ctxLen int) *KVCache {
	if ctxLen <= 0 {
		ctxLen = d.defaultCacheLen
	}
	return newKVCache(d.cfg.Layers, d.cfg.KVDim(), d.cfg.HeadDim, ctxLen)
}

// prefillChunk bounds how many prompt tokens one pass of Forward processes:
// the batched kernels are about as fast at 64 tokens as at 512 (pp512 of
// the 0.5B shape measured 124–151 tok/s at 64 against 138 at 128 on a
// noisy machine), while the per-pass activation buffers (3.7 MB at 64 for
// that shape) stay small, which keeps peak memory near the size of the
// weights and the KV cache.
const prefillChunk = 64

// Forward runs tokens through the model and returns the last token's logits
// in the cache's logits buffer (see Model.Forward). A long prompt is
// processed in chunks of prefillChunk tokens.
func (d *Decoder) Forward(ctx context.Context, tokens []int, pos int, cache *KVCache) ([]float32, error) {
	for len(tokens) > prefillChunk {
		if _, err := d.run(ctx, tokens[:prefillChunk], pos, cache, false, nil); err != nil {
			return nil, err
		}
		tokens, pos = tokens[prefillChunk:], pos+prefillChunk
	}
	x, err := d.run(ctx, tokens, pos, cache, false, d.output)
	if err != nil {
		return nil, err
	}
	h := d.cfg.Hidden
	logits := cache.logitsBuffer(d.cfg.Vocab)
	tensor.MatVec(logits, d.output, x[(len(tokens)-1)*h:len(tokens)*h])
	return logits, nil
}

// ForwardAll runs tokens through the model and returns the logits of every
// position, len(tokens)×Vocab values (for losses and perplexity).
func (d *Decoder) ForwardAll(ctx context.Context, tokens []int, pos int, cache *KVCache) ([]float32, error) {
	x, err := d.run(ctx, tokens, pos, cache, true, d.output)
	if err != nil {
		return nil, err
	}
	logits := make([]float32, len(tokens)*d.cfg.Vocab)
	if len(tokens) == 1 {
		tensor.MatVec(logits, d.output, x)
	} else {
		tensor.MatMul(logits, d.output, x, len(tokens))
	}
	return logits, nil
}

// ForwardHidden runs tokens through the model and returns every token's
// final hidden state (after the output norm), len(tokens)×Hidden values.
func (d *Decoder) ForwardHidden(ctx context.Context, tokens []int, pos int, cache *KVCache) ([]float32, error) {
	x, err := d.run(ctx, tokens, pos, cache, true, nil)
	if err != nil {
		return nil, err
	}
	return slices.Clone(x), nil // x lives in the cache's scratch space
}

// run is the shared forward pass. It returns the hidden states, in the
// cache's scratch space (valid until the next pass over it); the output
// norm is applied to every row when allRows is set, else to the last only.
// next, if set, is the matrix the caller multiplies the result by.
//
// A single token's pass names each product's matrices to the one before
// it (tensor.MatVecsThen), so that the kernels' helper reads them ahead
// while this thread does the work in between (attention above all).
func (d *Decoder) run(ctx context.Context, tokens []int, pos int, cache *KVCache, allRows bool, next *tensor.Matrix) ([]float32, error) {
	cfg := d.cfg
	n := len(tokens)
	if n == 0 {
		return nil, fmt.Errorf("forward: no tokens")
	}
	if err := cache.begin(cfg.Layers, cfg.KVDim(), pos, n); err != nil {
		return nil, err
	}
	if err := cache.adapters.check(cfg); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	hd, qDim, kvDim, ffn := cfg.Hidden, cfg.Heads*cfg.HeadDim, cfg.KVDim(), cfg.FFN

	// Every activation buffer of the pass is carved out of the cache's
	// scratch space; each is fully written before it is read.
	half := d.rope.dims / 2
	fused := len(d.layers) > 0 && d.layers[0].qkv.ok()
	fusedFFN := len(d.layers) > 0 && d.layers[0].gateUp.ok()
	// Attention scores get room for a full cache, so that the scratch size
	// does not grow (and reallocate) with every token.
	size := 4*n*hd + 2*n*half + 2*n*qDim + 2*n*kvDim + 2*n*ffn + cfg.Heads*scoreWidth(cache.slots())
	if fused {
		size += n * (qDim + 2*kvDim)
	}
	if fusedFFN {
		size += n * 2 * ffn
	}
	buf := cache.scratchFloats(size)
	take := func(m int) []float32 {
		s := buf[:m:m]
		buf = buf[m:]
		return s
	}
	x := take(n * hd)
	for i, id := range tokens {
		if id < 0 || id >= cfg.Vocab {
			return nil, fmt.Errorf("forward: token %d out of vocabulary range [0,%d)", id, cfg.Vocab)
		}
		d.tokenEmbd.Row(id, x[i*hd:(i+1)*hd])
	}

	cos, sin := take(n*half), take(n*half)
	for i := range n {
		d.rope.table(cache.ropePos(pos+i), cos[i*half:(i+1)*half], sin[i*half:(i+1)*half])
	}

	xn := take(n * hd)
	q, k, v := take(n*qDim), take(n*kvDim), take(n*kvDim)
	att, proj := take(n*qDim), take(n*hd)
	gate, up := take(n*ffn), take(n*ffn)
	scores := take(cfg.Heads * scoreWidth(cache.slots()))
	var qkv, gateUp []float32
	if fused {
		qkv = take(n * (qDim + 2*kvDim))
	}
	if fusedFFN {
		gateUp = take(n * 2 * ffn)
	}

	var nextQKV, nextUp [3]*tensor.Matrix // the products' matrices, without allocating
	for l := range d.layers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("forward layer %d: %w", l, err)
		}
		ly := &d.layers[l]
		// The matrices of the product after this layer's last.
		var after []*tensor.Matrix
		switch {
		case l+1 < len(d.layers):
			after = d.layers[l+1].qkvMats(&nextQKV)
		case next != nil:
			nextQKV[0] = next
			after = nextQKV[:1]
		}
		for i := range n {
			tensor.RMSNorm(xn[i*hd:(i+1)*hd], x[i*hd:(i+1)*hd], ly.attnNorm, cfg.NormEps)
		}
		if ly.qkv.ok() {
			w := qDim + 2*kvDim
			ly.qkv.apply(qkv, xn, n, ly.o.w)
			cache.adapters.applyLoRA(l, loraQKV, qkv, xn, n)
			for i := range n {
				row := qkv[i*w : (i+1)*w]
				copy(q[i*qDim:(i+1)*qDim], row[:qDim])
				copy(k[i*kvDim:(i+1)*kvDim], row[qDim:qDim+kvDim])
				copy(v[i*kvDim:(i+1)*kvDim], row[qDim+kvDim:])
			}
		} else {
			applyShared([][]float32{q, k, v}, []linear{ly.q, ly.k, ly.v}, xn, n, ly.o.w)
			cache.adapters.applyLoRA(l, loraQ, q, xn, n)
			cache.adapters.applyLoRA(l, loraK, k, xn, n)
			cache.adapters.applyLoRA(l, loraV, v, xn, n)
		}
		for i := range n {
			c, s := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
			d.rope.apply(q[i*qDim:(i+1)*qDim], cfg.Heads, c, s)
			d.rope.apply(k[i*kvDim:(i+1)*kvDim], cfg.KVHeads, c, s)
			slot := cache.slot(pos + i)
			cache.setKey(l, slot, k[i*kvDim:(i+1)*kvDim])
			cache.setValue(l, slot, v[i*kvDim:(i+1)*kvDim])
		}
		d.attention(cache, l, q, att, scores, n, cache.slot(pos))
		ly.o.apply(proj, att, n, ly.upMats(&nextUp)...)
		cache.adapters.applyLoRA(l, loraO, proj, att, n)
		tensor.Axpy(1, proj, x)

		for i := range n {
			tensor.RMSNorm(xn[i*hd:(i+1)*hd], x[i*hd:(i+1)*hd], ly.ffnNorm, cfg.NormEps)
		}
		if ly.gateUp.ok() {
			ly.gateUp.apply(gateUp, xn, n, ly.down.w)
			cache.adapters.applyLoRA(l, loraUp, gateUp, xn, n)
			for i := range n {
				row := gateUp[i*2*ffn : (i+1)*2*ffn]
				copy(gate[i*ffn:(i+1)*ffn], row[:ffn])
				copy(up[i*ffn:(i+1)*ffn], row[ffn:])
			}
		} else {
			applyShared([][]float32{gate, up}, []linear{ly.gate, ly.up}, xn, n, ly.down.w)
			cache.adapters.applyLoRA(l, loraGate, gate, xn, n)
			cache.adapters.applyLoRA(l, loraUp, up, xn, n)
		}
		tensor.SwiGLU(gate, up)
		ly.down.apply(proj, gate, n, after...)
		cache.adapters.applyLoRA(l, loraDown, proj, gate, n)
		tensor.Axpy(1, proj, x)
	}
	cache.commit(tokens)

	first := n - 1
	if allRows {
		first = 0
	}
	for i := first; i < n; i++ {
		tensor.RMSNorm(x[i*hd:(i+1)*hd], x[i*hd:(i+1)*hd], d.outputNorm, cfg.NormEps)
	}
	return x, nil
}

// scoreWidth is the room one head's attention scores over slots cache
// slots take: whole cache lines, so that the threads writing the scores of
// neighbouring heads never share a line.
func scoreWidth(slots int) int { return (slots + 15) &^ 15 }

// attention computes causal softmax(q·Kᵀ/√d)·V for n queries whose first
// cache slot is firstSlot. The heads that share a KV group are done
// together, a block of cache rows at a time, so that each key and value
// row is read from memory once per group rather than once per head (a
// 0.5B Qwen has seven query heads a group, and at a context of 2,048 a
// group's rows are 1 MB); the groups, or parts of one, are shared out
// among the kernels' threads.
func (d *Decoder) attention(cache *KVCache, layer int, q, out, allScores []float32, n, firstSlot int) {
	a := cache.attention
	if a == nil {
		a = new(attentionJob)
		a.unit = a.run // bound once: a decode step allocates nothing
		cache.attention = a
	}
	cfg := d.cfg
	group := cfg.Heads / cfg.KVHeads
	// Split each group's heads into as many parts as it takes to give
	// every thread a unit.
	parts := min(group, max(1, (tensor.Threads()+cfg.KVHeads-1)/cfg.KVHeads))
	*a = attentionJob{
		cache: cache, layer: layer, q: q, out: out, allScores: allScores, n: n, firstSlot: firstSlot,
		hdim: cfg.HeadDim, qDim: cfg.Heads * cfg.HeadDim, group: group, parts: parts,
		scale: float32(1 / math.Sqrt(float64(cfg.HeadDim))),
		width: scoreWidth(firstSlot + n), // allScores holds Heads × width
		unit:  a.unit,
	}
	if units := cfg.KVHeads * parts; n*(firstSlot+n)*cfg.Heads*cfg.HeadDim >= attentionParallelMACs {
		tensor.ParallelFor(units, a.unit)
	} else {
		for u := range units {
			a.unit(u)
		}
	}
	a.cache, a.q, a.out, a.allScores = nil, nil, nil, nil
}

// attentionParallelMACs is the least work (query-key products of a head
// dimension) worth sharing out: below it a hand-over costs more than it
// saves (the 0.5B Qwen shape at a context of 70 took 5.2 µs a layer on one
// thread against 6.0 on two; at 128, 10.9 against 8.9).
const attentionParallelMACs = 1 << 16

// attentionRows is the cache rows attention takes at a time: 32 KB of a
// 64-wide head's keys, which stay in L1 while every head of the group
// reads them.
const attentionRows = 128

// attentionJob is one attention call's arguments, kept in the KV cache
// with its per-unit function, so that the call allocates nothing.
type attentionJob struct {
	cache             *KVCache
	layer             int
	q, out, allScores []float32
	n, firstSlot      int
	hdim, qDim        int
	group, parts      int
	width             int
	scale             float32
	unit              func(u int)
}

// run computes unit u: part u%parts of KV group u/parts's heads, for every
// query.
func (a *attentionJob) run(u int) {
	g, p := u/a.parts, u%a.parts
	h0, h1 := g*a.group+p*a.group/a.parts, g*a.group+(p+1)*a.group/a.parts
	tileStride, vStride := a.cache.keyTileStride(), a.cache.valueStride()
	keys := a.cache.keysFrom(a.layer, g*a.hdim)
	values := a.cache.valuesFrom(a.layer, g*a.hdim)
	for i := range a.n {
		total := a.firstSlot + i + 1
		scores := func(h int) []float32 { return a.allScores[h*a.width : h*a.width+total] }
		output := func(h int) []float32 { return a.out[i*a.qDim+h*a.hdim : i*a.qDim+(h+1)*a.hdim] }
		// Scores against this group's slice of every key, a block of
		// whole key tiles for all the unit's heads at a time (the tiles
		// past total fill the padding below, which then overwrites them).
		for t0 := 0; t0 < total; t0 += attentionRows {
			t1 := min(total, t0+attentionRows)
			tiles := (t1 - t0 + tensor.TileWidth - 1) / tensor.TileWidth
			tensor.TileScores(a.allScores[h0*a.width+t0:], a.width, keys[t0/tensor.TileWidth*tileStride:], tileStride, tiles, a.hdim,
				a.q[i*a.qDim+h0*a.hdim:], a.hdim, h1-h0)
		}
		// The softmax over whole vectors of eight: the scores padded with
		// −Inf (weight 0) to a multiple of 8, which the score rows have
		// room for (see scoreWidth), so that no element takes the scalar
		// path.
		padded := (total + 7) &^ 7
		for h := h0; h < h1; h++ {
			s := a.allScores[h*a.width : h*a.width+padded]
			for t := total; t < padded; t++ {
				s[t] = float32(math.Inf(-1))
			}
			tensor.Scale(a.scale, s)
			tensor.Softmax(s)
			clear(output(h))
		}
		// The softmax-weighted sum of the value rows, block by block.
		for t0 := 0; t0 < total; t0 += attentionRows {
			t1 := min(total, t0+attentionRows)
			for h := h0; h < h1; h++ {
				tensor.WeightedSumAdd(output(h), values[t0*vStride:], vStride, scores(h)[t0:t1])
			}
		}
	}
}
