package llm

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// Shape is the hyper-parameter set of a synthetic model.
type Shape struct {
	Arch       string // qwen2, llama, chatglm or bert
	Vocab      int
	Hidden     int
	Layers     int
	Heads      int
	KVHeads    int
	FFN        int
	ContextLen int
	RopeBase   float64
	// TiedEmbeddings omits output.weight so the LM head reuses token_embd.
	TiedEmbeddings bool
}

// Qwen25_05B is the shape of Qwen2.5-0.5B-Instruct.
func Qwen25_05B() Shape {
	return Shape{Arch: "qwen2", Vocab: 151936, Hidden: 896, Layers: 24, Heads: 14, KVHeads: 2,
		FFN: 4864, ContextLen: 32768, RopeBase: 1e6, TiedEmbeddings: true}
}

// QuantMix chooses the storage type of each weight. A type whose block does
// not divide a tensor's row length falls back (Q4_K→Q5_0, Q6_K→Q8_0, any
// 32-block type→F16), as llama.cpp's quantizer does.
type QuantMix struct {
	Name string
	// Base is the type of most matrices.
	Base tensor.DType
	// AttnV and FFNDown override Base for attn_v and ffn_down (0 = Base).
	AttnV, FFNDown tensor.DType
	// Embedding and Output are the types of token_embd and output (0 = Base).
	Embedding, Output tensor.DType
}

// Mixes used by the benchmark and `zhiwen bench`.
var (
	MixF32  = QuantMix{Name: "F32", Base: tensor.F32}
	MixF16  = QuantMix{Name: "F16", Base: tensor.F16}
	MixQ8_0 = QuantMix{Name: "Q8_0", Base: tensor.Q8_0}
	MixQ4_0 = QuantMix{Name: "Q4_0", Base: tensor.Q4_0}
	// MixQ4KM resembles llama.cpp's Q4_K_M: Q4_K matrices, Q6_K for attn_v,
	// ffn_down and the output, with fallbacks where rows are not a multiple
	// of 256.
	MixQ4KM = QuantMix{Name: "Q4_K_M", Base: tensor.Q4_K, AttnV: tensor.Q6_K, FFNDown: tensor.Q6_K,
		Embedding: tensor.Q6_K, Output: tensor.Q6_K}
)

// synthTensor is one tensor of a synthetic model: its values come from a
// deterministic generator per row, so files are reproducible and can be
// written in parallel without holding them in memory.
type synthTensor struct {
	name  string
	typ   tensor.DType
	rows  int
	cols  int
	scale float32 // standard deviation of the values
	mean  float32 // added to every value (norm gains use 1)
}

// SynthesizeModel writes a GGUF model of the given shape with random weights
// (fixed by seed) stored as mix says. The file has no tokenizer; it is for
// tests and benchmarks.
func SynthesizeModel(ctx context.Context, path string, s Shape, mix QuantMix, seed uint64) error {
	return synthesize(ctx, path, s, mix, seed, nil)
}

// synthesize is SynthesizeModel with extra metadata (a tokenizer, say).
func synthesize(ctx context.Context, path string, s Shape, mix QuantMix, seed uint64, extra []kvPair) error {
	w := gguf.NewWriter()
	if err := addSynthMetadata(w, s); err != nil {
		return fmt.Errorf("synthesize %s: %w", path, err)
	}
	for _, e := range extra {
		if err := w.AddKV(e.key, e.value); err != nil {
			return fmt.Errorf("synthesize %s: %w", path, err)
		}
	}
	for _, st := range synthTensors(s, mix) {
		st := st
		shape := []uint64{uint64(st.cols), uint64(st.rows)}
		if st.rows == 1 {
			shape = shape[:1]
		}
		err := w.AddTensorFunc(st.name, gguf.TensorType(st.typ), shape, func(out io.Writer) error {
			return writeSynthTensor(ctx, out, st, seed)
		})
		if err != nil {
			return fmt.Errorf("synthesize %s: %w", path, err)
		}
	}
	if err := gguf.WriteFile(ctx, path, w); err != nil {
		return fmt.Errorf("synthesize %s: %w", path, err)
	}
	return nil
}

// SynthesizeQwen2 writes a random-weight qwen2 model of the given shape.
func SynthesizeQwen2(ctx context.Context, path string, s Shape, mix QuantMix, seed uint64) error {
	s.Arch = "qwen2"
	return SynthesizeModel(ctx, path, s, mix, seed)
}

type kvPair struct {
	key   string
	value any
}

func addSynthMetadata(w *gguf.Writer, s Shape) error {
	a := s.Arch
	kv := []kvPair{
		{"general.architecture", a},
		{"general.name", "synthetic-" + a},
		{a + ".context_length", uint32(s.ContextLen)},
		{a + ".embedding_length", uint32(s.Hidden)},
		{a + ".block_count", uint32(s.Layers)},
		{a + ".feed_forward_length", uint32(s.FFN)},
		{a + ".attention.head_count", uint32(s.Heads)},
	}
	if a == "bert" {
		kv = append(kv,
			kvPair{a + ".attention.layer_norm_epsilon", float32(1e-12)},
			kvPair{a + ".pooling_type", uint32(PoolingMean)},
			kvPair{a + ".attention.causal", false})
	} else {
		base := s.RopeBase
		if base == 0 {
			base = 10000
		}
		kv = append(kv,
			kvPair{a + ".attention.head_count_kv", uint32(s.KVHeads)},
			kvPair{a + ".attention.layer_norm_rms_epsilon", float32(1e-6)},
			kvPair{a + ".rope.freq_base", float32(base)})
		if a == "chatglm" {
			kv = append(kv, kvPair{a + ".rope.dimension_count", uint32(s.Hidden / s.Heads / 2)})
		}
	}
	for _, e := range kv {
		if err := w.AddKV(e.key, e.value); err != nil {
			return err
		}
	}
	return nil
}

// synthTensors lists the tensors of a model in llama.cpp naming.
func synthTensors(s Shape, mix QuantMix) []synthTensor {
	// or picks an override type, falling back to def when unset (F32 is
	// type 0, so an F32 override cannot be expressed and is not needed).
	or := func(t, def tensor.DType) tensor.DType {
		if t == 0 {
			return def
		}
		return t
	}
	base := mix.Base
	mat := func(name string, want tensor.DType, rows, cols int) synthTensor {
		return synthTensor{name: name, typ: tensor.StorageType(want, cols), rows: rows, cols: cols, scale: float32(1 / math.Sqrt(float64(cols)))}
	}
	vec := func(name string, n int, mean, scale float32) synthTensor {
		return synthTensor{name: name, typ: tensor.F32, rows: 1, cols: n, scale: scale, mean: mean}
	}
	hd := s.Hidden
	headDim := hd / s.Heads
	qDim, kvDim := s.Heads*headDim, s.KVHeads*headDim
	ts := []synthTensor{mat("token_embd.weight", or(mix.Embedding, base), s.Vocab, hd)}
	ts[0].scale = 1
	if s.Arch == "bert" {
		ts = append(ts,
			synthTensor{name: "token_types.weight", typ: tensor.F32, rows: 2, cols: hd, scale: 0.1},
			synthTensor{name: "position_embd.weight", typ: tensor.F32, rows: s.ContextLen, cols: hd, scale: 0.1},
			vec("token_embd_norm.weight", hd, 1, 0.1), vec("token_embd_norm.bias", hd, 0, 0.1))
		for l := range s.Layers {
			p := fmt.Sprintf("blk.%d.", l)
			ts = append(ts,
				mat(p+"attn_q.weight", base, hd, hd), vec(p+"attn_q.bias", hd, 0, 0.1),
				mat(p+"attn_k.weight", base, hd, hd), vec(p+"attn_k.bias", hd, 0, 0.1),
				mat(p+"attn_v.weight", or(mix.AttnV, base), hd, hd), vec(p+"attn_v.bias", hd, 0, 0.1),
				mat(p+"attn_output.weight", base, hd, hd), vec(p+"attn_output.bias", hd, 0, 0.1),
				vec(p+"attn_output_norm.weight", hd, 1, 0.1), vec(p+"attn_output_norm.bias", hd, 0, 0.1),
				mat(p+"ffn_up.weight", base, s.FFN, hd), vec(p+"ffn_up.bias", s.FFN, 0, 0.1),
				mat(p+"ffn_down.weight", or(mix.FFNDown, base), hd, s.FFN), vec(p+"ffn_down.bias", hd, 0, 0.1),
				vec(p+"layer_output_norm.weight", hd, 1, 0.1), vec(p+"layer_output_norm.bias", hd, 0, 0.1))
		}
		return ts
	}
	for l := range s.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts, vec(p+"attn_norm.weight", hd, 1, 0.1))
		if s.Arch == "chatglm" {
			ts = append(ts, mat(p+"attn_qkv.weight", base, qDim+2*kvDim, hd), vec(p+"attn_qkv.bias", qDim+2*kvDim, 0, 0.1))
		} else {
			ts = append(ts,
				mat(p+"attn_q.weight", base, qDim, hd),
				mat(p+"attn_k.weight", base, kvDim, hd),
				mat(p+"attn_v.weight", or(mix.AttnV, base), kvDim, hd))
			if s.Arch == "qwen2" {
				ts = append(ts, vec(p+"attn_q.bias", qDim, 0, 0.1), vec(p+"attn_k.bias", kvDim, 0, 0.1), vec(p+"attn_v.bias", kvDim, 0, 0.1))
			}
		}
		ts = append(ts, mat(p+"attn_output.weight", base, hd, qDim), vec(p+"ffn_norm.weight", hd, 1, 0.1))
		if s.Arch == "chatglm" {
			ts = append(ts, mat(p+"ffn_up.weight", base, 2*s.FFN, hd))
		} else {
			ts = append(ts, mat(p+"ffn_gate.weight", base, s.FFN, hd), mat(p+"ffn_up.weight", base, s.FFN, hd))
		}
		ts = append(ts, mat(p+"ffn_down.weight", or(mix.FFNDown, base), hd, s.FFN))
	}
	ts = append(ts, vec("output_norm.weight", hd, 1, 0.1))
	if !s.TiedEmbeddings {
		ts = append(ts, mat("output.weight", or(mix.Output, base), s.Vocab, hd))
	}
	return ts
}

// writeSynthTensor generates, encodes and writes st in parallel row chunks.
func writeSynthTensor(ctx context.Context, out io.Writer, st synthTensor, seed uint64) error {
	h := fnv.New64a()
	h.Write([]byte(st.name))
	tseed := seed ^ h.Sum64()
	rowBytes := tensor.RowBytes(st.typ, st.cols)
	const chunkRows = 256
	workers := runtime.GOMAXPROCS(0)
	type chunk struct {
		data []byte
		err  error
	}
	nChunks := (st.rows + chunkRows - 1) / chunkRows
	results := make([]chan chunk, nChunks)
	for i := range results {
		results[i] = make(chan chunk, 1)
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := make(chan struct{})
	defer close(stop)
	wg.Go(func() {
		for c := range nChunks {
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				r0, r1 := c*chunkRows, min((c+1)*chunkRows, st.rows)
				vals := make([]float32, st.cols)
				buf := make([]byte, 0, (r1-r0)*rowBytes)
				for r := r0; r < r1; r++ {
					rng := rand.New(rand.NewPCG(tseed, uint64(r)))
					for j := range vals {
						vals[j] = st.mean + st.scale*float32(rng.NormFloat64())
					}
					enc, err := encodeRow(st.typ, vals)
					if err != nil {
						results[c] <- chunk{err: fmt.Errorf("tensor %s: %w", st.name, err)}
						return
					}
					buf = append(buf, enc...)
				}
				results[c] <- chunk{data: buf}
			})
		}
	})
	for c := range nChunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		var res chunk
		select {
		case res = <-results[c]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if res.err != nil {
			return res.err
		}
		if _, err := out.Write(res.data); err != nil {
			return err
		}
	}
	return nil
}

func encodeRow(t tensor.DType, vals []float32) ([]byte, error) {
	if t == tensor.F32 {
		b := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b, nil
	}
	return tensor.Quantize(t, vals)
}
