package llm

import (
	"context"
	"fmt"
	"math"

	"zhiwen/generation/tensor"
)

func init() {
	Register("bert", func(w *Weights, o LoadOptions) (Network, error) { return loadBert(w, o) })
}

// bertLayer is one post-LN encoder block.
type bertLayer struct {
	q, k, v, o           linear
	attnNormW, attnNormB []float32
	up, down             linear
	outNormW, outNormB   []float32
}

// Bert is a post-LayerNorm bidirectional encoder with absolute position and
// token-type embeddings and a GELU feed-forward block (BERT, bge-small-zh).
// Embed pools its last layer (mean or CLS) and L2-normalizes the result.
// A Bert is safe for concurrent use.
type Bert struct {
	cfg       Config
	tokenEmbd *tensor.Matrix
	typeEmbd  []float32 // type 0 row (every token is segment A)
	posEmbd   *tensor.Matrix
	embdNormW []float32
	embdNormB []float32
	layers    []bertLayer
}

// Config describes the model's shape.
func (b *Bert) Config() Config { return b.cfg }

func loadBert(w *Weights, o LoadOptions) (*Bert, error) {
	cfg := Config{Arch: w.Arch}
	var err error
	get := func(dst *int, key string, def int) {
		if err == nil {
			*dst, err = w.Int(key, def)
		}
	}
	get(&cfg.Hidden, "%s.embedding_length", -1)
	get(&cfg.Layers, "%s.block_count", -1)
	get(&cfg.FFN, "%s.feed_forward_length", -1)
	get(&cfg.Heads, "%s.attention.head_count", -1)
	get(&cfg.ContextLen, "%s.context_length", 512)
	var pooling int
	get(&pooling, "%s.pooling_type", int(PoolingCLS))
	if err != nil {
		return nil, err
	}
	if cfg.Hidden <= 0 || cfg.Layers <= 0 || cfg.Heads <= 0 || cfg.FFN <= 0 || cfg.Hidden%cfg.Heads != 0 {
		return nil, w.errorf("invalid bert shape: hidden %d, layers %d, heads %d, ffn %d", cfg.Hidden, cfg.Layers, cfg.Heads, cfg.FFN)
	}
	cfg.Pooling = Pooling(pooling)
	if cfg.Pooling != PoolingMean && cfg.Pooling != PoolingCLS {
		return nil, w.errorf("bert pooling type %d not supported (want 1 mean or 2 cls)", pooling)
	}
	cfg.KVHeads = cfg.Heads
	cfg.HeadDim = cfg.Hidden / cfg.Heads
	eps, err := w.Float("%s.attention.layer_norm_epsilon", 1e-12)
	if err != nil {
		return nil, err
	}
	cfg.NormEps = float32(eps)
	ti, ok := w.File.Tensor("token_embd.weight")
	if !ok || len(ti.Shape) != 2 {
		return nil, w.errorf("missing or malformed tensor token_embd.weight")
	}
	cfg.Vocab = int(ti.Shape[1])
	if pe, ok := w.File.Tensor("position_embd.weight"); ok && len(pe.Shape) == 2 && int(pe.Shape[1]) < cfg.ContextLen {
		cfg.ContextLen = int(pe.Shape[1])
	}

	hd := cfg.Hidden
	b := &Bert{cfg: cfg, layers: make([]bertLayer, cfg.Layers)}
	if b.tokenEmbd, err = w.Matrix("token_embd.weight", cfg.Vocab, hd); err != nil {
		return nil, err
	}
	if b.posEmbd, err = w.Matrix("position_embd.weight", cfg.ContextLen, hd); err != nil {
		return nil, err
	}
	if tt, ok := w.File.Tensor("token_types.weight"); ok {
		types := 1
		if len(tt.Shape) == 2 {
			types = int(tt.Shape[1])
		}
		m, err := w.Matrix("token_types.weight", types, hd)
		if err != nil {
			return nil, err
		}
		b.typeEmbd = make([]float32, hd)
		m.Row(0, b.typeEmbd)
	}
	if b.embdNormW, err = w.Vector("token_embd_norm.weight", hd); err != nil {
		return nil, err
	}
	if b.embdNormB, err = w.Vector("token_embd_norm.bias", hd); err != nil {
		return nil, err
	}
	lin := func(name string, rows, cols int) (linear, error) {
		m, err := w.Matrix(name+".weight", rows, cols)
		if err != nil {
			return linear{}, err
		}
		bias, err := w.OptVector(name+".bias", rows)
		return linear{w: m, b: bias}, err
	}
	for i := range b.layers {
		ly := &b.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		var errs [10]error
		ly.q, errs[0] = lin(p+"attn_q", hd, hd)
		ly.k, errs[1] = lin(p+"attn_k", hd, hd)
		ly.v, errs[2] = lin(p+"attn_v", hd, hd)
		ly.o, errs[3] = lin(p+"attn_output", hd, hd)
		ly.attnNormW, errs[4] = w.Vector(p+"attn_output_norm.weight", hd)
		ly.attnNormB, errs[5] = w.Vector(p+"attn_output_norm.bias", hd)
		ly.up, errs[6] = lin(p+"ffn_up", cfg.FFN, hd)
		ly.down, errs[7] = lin(p+"ffn_down", hd, cfg.FFN)
		ly.outNormW, errs[8] = w.Vector(p+"layer_output_norm.weight", hd)
		ly.outNormB, errs[9] = w.Vector(p+"layer_output_norm.bias", hd)
		for _, e := range errs {
			if e != nil {
				return nil, e
			}
		}
	}
	return b, nil
}

// Embed encodes tokens (including [CLS]/[SEP] as the tokenizer adds them)
// and returns the pooled, L2-normalized embedding.
func (b *Bert) Embed(ctx context.Context, tokens []int) ([]float32, error) {
	states, err := b.Encode(ctx, tokens)
	if err != nil {
		return nil, err
	}
	hd := b.cfg.Hidden
	out := make([]float32, hd)
	switch b.cfg.Pooling {
	case PoolingMean:
		for i := range tokens {
			tensor.Axpy(1, states[i*hd:(i+1)*hd], out)
		}
		for j := range out {
			out[j] /= float32(len(tokens))
		}
	default:
		copy(out, states[:hd])
	}
	tensor.NormalizeL2(out)
	return out, nil
}

// Encode returns the last layer's hidden state of every token,
// len(tokens)×Hidden values.
func (b *Bert) Encode(ctx context.Context, tokens []int) ([]float32, error) {
	cfg := b.cfg
	n := len(tokens)
	if n == 0 {
		return nil, fmt.Errorf("bert encode: no tokens")
	}
	if n > cfg.ContextLen {
		return nil, fmt.Errorf("bert encode: %d tokens exceed context length %d: %w", n, cfg.ContextLen, ErrContextFull)
	}
	hd, hdim := cfg.Hidden, cfg.HeadDim
	x := make([]float32, n*hd)
	pe := make([]float32, hd)
	for i, id := range tokens {
		if id < 0 || id >= cfg.Vocab {
			return nil, fmt.Errorf("bert encode: token %d out of vocabulary range [0,%d)", id, cfg.Vocab)
		}
		row := x[i*hd : (i+1)*hd]
		b.tokenEmbd.Row(id, row)
		b.posEmbd.Row(i, pe)
		tensor.Axpy(1, pe, row)
		if b.typeEmbd != nil {
			tensor.Axpy(1, b.typeEmbd, row)
		}
		tensor.LayerNorm(row, row, b.embdNormW, b.embdNormB, cfg.NormEps)
	}
	q := make([]float32, n*hd)
	k := make([]float32, n*hd)
	v := make([]float32, n*hd)
	att := make([]float32, n*hd)
	proj := make([]float32, n*hd)
	ff := make([]float32, n*cfg.FFN)
	scale := float32(1 / math.Sqrt(float64(hdim)))
	for l := range b.layers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bert encode layer %d: %w", l, err)
		}
		ly := &b.layers[l]
		ly.q.apply(q, x, n)
		ly.k.apply(k, x, n)
		ly.v.apply(v, x, n)
		tensor.ParallelFor(cfg.Heads, func(h int) {
			s := make([]float32, n)
			for i := range n {
				qh := q[i*hd+h*hdim : i*hd+(h+1)*hdim]
				for t := range n {
					s[t] = tensor.Dot(qh, k[t*hd+h*hdim:t*hd+(h+1)*hdim]) * scale
				}
				tensor.Softmax(s)
				o := att[i*hd+h*hdim : i*hd+(h+1)*hdim]
				clear(o)
				for t := range n {
					tensor.Axpy(s[t], v[t*hd+h*hdim:t*hd+(h+1)*hdim], o)
				}
			}
		})
		ly.o.apply(proj, att, n)
		tensor.Axpy(1, proj, x)
		for i := range n {
			row := x[i*hd : (i+1)*hd]
			tensor.LayerNorm(row, row, ly.attnNormW, ly.attnNormB, cfg.NormEps)
		}
		ly.up.apply(ff, x, n)
		tensor.GELUErf(ff)
		ly.down.apply(proj, ff, n)
		tensor.Axpy(1, proj, x)
		for i := range n {
			row := x[i*hd : (i+1)*hd]
			tensor.LayerNorm(row, row, ly.outNormW, ly.outNormB, cfg.NormEps)
		}
	}
	return x, nil
}
