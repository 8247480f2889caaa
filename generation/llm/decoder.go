package llm

import (
	"context"
	"fmt"
	"math"

	"zhiwen/generation/tensor"
)

// linear is y = W·x (+ b) over a (possibly quantized) weight matrix.
type linear struct {
	w *tensor.Matrix
	b []float32
}

func (l linear) ok() bool { return l.w != nil }

// apply computes dst (n×Rows) from x (n×Cols).
func (l linear) apply(dst, x []float32, n int) {
	rows, cols := l.w.Rows, l.w.Cols
	if n == 1 {
		tensor.MatVec(dst[:rows], l.w, x[:cols])
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
	return NewKVCache(d.cfg.Layers, d.cfg.KVDim(), ctxLen)
}

// prefillChunk bounds how many prompt tokens one pass of Forward processes:
// the batched kernels are nearly as fast at 128 tokens as at 512, while the
// per-pass activation buffers (a few MB per 100 tokens) stay small, which
// keeps peak memory near the size of the weights and the KV cache.
const prefillChunk = 128

// Forward runs tokens through the model and returns the last token's logits.
// A long prompt is processed in chunks of prefillChunk tokens.
func (d *Decoder) Forward(ctx context.Context, tokens []int, pos int, cache *KVCache) ([]float32, error) {
	for len(tokens) > prefillChunk {
		if _, err := d.run(ctx, tokens[:prefillChunk], pos, cache, false); err != nil {
			return nil, err
		}
		tokens, pos = tokens[prefillChunk:], pos+prefillChunk
	}
	x, err := d.run(ctx, tokens, pos, cache, false)
	if err != nil {
		return nil, err
	}
	h := d.cfg.Hidden
	logits := make([]float32, d.cfg.Vocab)
	tensor.MatVec(logits, d.output, x[(len(tokens)-1)*h:len(tokens)*h])
	return logits, nil
}

// ForwardAll runs tokens through the model and returns the logits of every
// position, len(tokens)×Vocab values (for losses and perplexity).
func (d *Decoder) ForwardAll(ctx context.Context, tokens []int, pos int, cache *KVCache) ([]float32, error) {
	x, err := d.run(ctx, tokens, pos, cache, true)
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
	return d.run(ctx, tokens, pos, cache, true)
}

// run is the shared forward pass. It returns the hidden states; the output
// norm is applied to every row when allRows is set, else to the last only.
func (d *Decoder) run(ctx context.Context, tokens []int, pos int, cache *KVCache, allRows bool) ([]float32, error) {
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

	x := make([]float32, n*hd)
	for i, id := range tokens {
		if id < 0 || id >= cfg.Vocab {
			return nil, fmt.Errorf("forward: token %d out of vocabulary range [0,%d)", id, cfg.Vocab)
		}
		d.tokenEmbd.Row(id, x[i*hd:(i+1)*hd])
	}

	half := d.rope.dims / 2
	cos := make([]float32, n*half)
	sin := make([]float32, n*half)
	for i := range n {
		d.rope.table(cache.ropePos(pos+i), cos[i*half:(i+1)*half], sin[i*half:(i+1)*half])
	}

	xn := make([]float32, n*hd)
	q := make([]float32, n*qDim)
	k := make([]float32, n*kvDim)
	v := make([]float32, n*kvDim)
	var qkv []float32
	att := make([]float32, n*qDim)
	proj := make([]float32, n*hd)
	gate := make([]float32, n*ffn)
	up := make([]float32, n*ffn)
	var gateUp []float32

	for l := range d.layers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("forward layer %d: %w", l, err)
		}
		ly := &d.layers[l]
		for i := range n {
			tensor.RMSNorm(xn[i*hd:(i+1)*hd], x[i*hd:(i+1)*hd], ly.attnNorm, cfg.NormEps)
		}
		if ly.qkv.ok() {
			w := qDim + 2*kvDim
			if qkv == nil {
				qkv = make([]float32, n*w)
			}
			ly.qkv.apply(qkv, xn, n)
			cache.adapters.applyLoRA(l, loraQKV, qkv, xn, n)
			for i := range n {
				row := qkv[i*w : (i+1)*w]
				copy(q[i*qDim:(i+1)*qDim], row[:qDim])
				copy(k[i*kvDim:(i+1)*kvDim], row[qDim:qDim+kvDim])
				copy(v[i*kvDim:(i+1)*kvDim], row[qDim+kvDim:])
			}
		} else {
			ly.q.apply(q, xn, n)
			ly.k.apply(k, xn, n)
			ly.v.apply(v, xn, n)
			cache.adapters.applyLoRA(l, loraQ, q, xn, n)
			cache.adapters.applyLoRA(l, loraK, k, xn, n)
			cache.adapters.applyLoRA(l, loraV, v, xn, n)
		}
		for i := range n {
			c, s := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
			d.rope.apply(q[i*qDim:(i+1)*qDim], cfg.Heads, c, s)
			d.rope.apply(k[i*kvDim:(i+1)*kvDim], cfg.KVHeads, c, s)
			slot := cache.slot(pos + i)
			copy(cache.keyRow(l, slot), k[i*kvDim:(i+1)*kvDim])
			cache.setValue(l, slot, v[i*kvDim:(i+1)*kvDim])
		}
		d.attention(cache, l, q, att, n, cache.slot(pos))
		ly.o.apply(proj, att, n)
		cache.adapters.applyLoRA(l, loraO, proj, att, n)
		tensor.Axpy(1, proj, x)

		for i := range n {
			tensor.RMSNorm(xn[i*hd:(i+1)*hd], x[i*hd:(i+1)*hd], ly.ffnNorm, cfg.NormEps)
		}
		if ly.gateUp.ok() {
			if gateUp == nil {
				gateUp = make([]float32, n*2*ffn)
			}
			ly.gateUp.apply(gateUp, xn, n)
			cache.adapters.applyLoRA(l, loraUp, gateUp, xn, n)
			for i := range n {
				row := gateUp[i*2*ffn : (i+1)*2*ffn]
				copy(gate[i*ffn:(i+1)*ffn], row[:ffn])
				copy(up[i*ffn:(i+1)*ffn], row[ffn:])
			}
		} else {
			ly.gate.apply(gate, xn, n)
			ly.up.apply(up, xn, n)
			cache.adapters.applyLoRA(l, loraGate, gate, xn, n)
			cache.adapters.applyLoRA(l, loraUp, up, xn, n)
		}
		tensor.SiLU(gate)
		for i := range gate {
			gate[i] *= up[i]
		}
		ly.down.apply(proj, gate, n)
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

// attention computes causal softmax(q·Kᵀ/√d)·V for n queries whose first
// cache slot is firstSlot; every head runs on its own goroutine.
func (d *Decoder) attention(cache *KVCache, layer int, q, out []float32, n, firstSlot int) {
	cfg := d.cfg
	hdim, qDim := cfg.HeadDim, cfg.Heads*cfg.HeadDim
	group := cfg.Heads / cfg.KVHeads
	scale := float32(1 / math.Sqrt(float64(hdim)))
	parallelFor(cfg.Heads, func(h int) {
		g := h / group
		scores := make([]float32, firstSlot+n)
		for i := range n {
			total := firstSlot + i + 1
			qh := q[i*qDim+h*hdim : i*qDim+(h+1)*hdim]
			s := scores[:total]
			for t := range total {
				s[t] = tensor.Dot(qh, cache.keyRow(layer, t)[g*hdim:(g+1)*hdim]) * scale
			}
			tensor.Softmax(s)
			o := out[i*qDim+h*hdim : i*qDim+(h+1)*hdim]
			for j := range o {
				o[j] = tensor.Dot(s, cache.valueColumn(layer, g*hdim+j)[:total])
			}
		}
	})
}
