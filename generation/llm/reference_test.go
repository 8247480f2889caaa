package llm

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// refModel is a float64 re-implementation of the architectures written as
// plainly as possible (Hugging Face formulation: rotate_half for NEOX,
// interleaved pairs for the others), used as an oracle for the optimized
// path. It reads the same GGUF file and dequantizes every tensor.
type refModel struct {
	t    *testing.T
	f    *gguf.File
	arch string
	cfg  Config
	memo map[string][]float64
}

func (r *refModel) vec(name string) []float64 {
	r.t.Helper()
	if v, ok := r.memo[name]; ok {
		return v
	}
	ti, ok := r.f.Tensor(name)
	if !ok {
		return nil
	}
	data, err := r.f.TensorData(ti)
	if err != nil {
		r.t.Fatal(err)
	}
	out32 := make([]float32, ti.Elements())
	if err := tensor.Dequantize(tensor.DType(ti.Type), data, out32); err != nil {
		r.t.Fatalf("dequantize %s: %v", name, err)
	}
	out := make([]float64, len(out32))
	for i, v := range out32 {
		out[i] = float64(v)
	}
	if r.memo == nil {
		r.memo = map[string][]float64{}
	}
	r.memo[name] = out
	return out
}

// linear computes W·x (+b) with W rows×len(x) row-major.
func refLinear(w, b, x []float64) []float64 {
	cols := len(x)
	rows := len(w) / cols
	y := make([]float64, rows)
	for r := range rows {
		var s float64
		for c := range cols {
			s += w[r*cols+c] * x[c]
		}
		if b != nil {
			s += b[r]
		}
		y[r] = s
	}
	return y
}

func refRMSNorm(x, w []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * inv * w[i]
	}
	return y
}

func refLayerNorm(x, w, b []float64, eps float64) []float64 {
	var mean, vr float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		vr += (v - mean) * (v - mean)
	}
	inv := 1 / math.Sqrt(vr/float64(len(x))+eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = (x[i]-mean)*inv*w[i] + b[i]
	}
	return y
}

// refRope rotates one head (HF formulation) at position pos.
func refRope(x []float64, style RopeStyle, dims int, base float64, pos int) {
	theta := func(i int) float64 { return float64(pos) / math.Pow(base, float64(2*i)/float64(dims)) }
	out := append([]float64(nil), x...)
	switch style {
	case RopeNeox:
		// q*cos + rotate_half(q)*sin, rotate_half(q) = [-q2, q1].
		half := dims / 2
		for j := range dims {
			th := theta(j % half)
			var rot float64
			if j < half {
				rot = -x[j+half]
			} else {
				rot = x[j-half]
			}
			out[j] = x[j]*math.Cos(th) + rot*math.Sin(th)
		}
	case RopeNormal:
		for j := 0; j < dims; j += 2 {
			th := theta(j / 2)
			out[j] = x[j]*math.Cos(th) - x[j+1]*math.Sin(th)
			out[j+1] = x[j+1]*math.Cos(th) + x[j]*math.Sin(th)
		}
	}
	copy(x, out)
}

// forwardDecoder returns the logits of every position of tokens (positions
// 0..n-1, full causal attention, no cache).
func (r *refModel) forwardDecoder(tokens []int) [][]float64 {
	cfg := r.cfg
	hd, hdim := cfg.Hidden, cfg.HeadDim
	qDim, kvDim := cfg.Heads*hdim, cfg.KVHeads*hdim
	embd := r.vec("token_embd.weight")
	x := make([][]float64, len(tokens))
	for i, id := range tokens {
		x[i] = append([]float64(nil), embd[id*hd:(id+1)*hd]...)
	}
	eps := float64(cfg.NormEps)
	for l := range cfg.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		q := make([][]float64, len(tokens))
		k := make([][]float64, len(tokens))
		v := make([][]float64, len(tokens))
		for i := range tokens {
			xn := refRMSNorm(x[i], r.vec(p+"attn_norm.weight"), eps)
			if qkv := r.vec(p + "attn_qkv.weight"); qkv != nil {
				all := refLinear(qkv, r.vec(p+"attn_qkv.bias"), xn)
				q[i], k[i], v[i] = all[:qDim], all[qDim:qDim+kvDim], all[qDim+kvDim:]
			} else {
				q[i] = refLinear(r.vec(p+"attn_q.weight"), r.vec(p+"attn_q.bias"), xn)
				k[i] = refLinear(r.vec(p+"attn_k.weight"), r.vec(p+"attn_k.bias"), xn)
				v[i] = refLinear(r.vec(p+"attn_v.weight"), r.vec(p+"attn_v.bias"), xn)
			}
			for h := range cfg.Heads {
				refRope(q[i][h*hdim:(h+1)*hdim], cfg.Rope, cfg.RopeDims, cfg.RopeBase, i)
			}
			for h := range cfg.KVHeads {
				refRope(k[i][h*hdim:(h+1)*hdim], cfg.Rope, cfg.RopeDims, cfg.RopeBase, i)
			}
		}
		for i := range tokens {
			att := make([]float64, qDim)
			for h := range cfg.Heads {
				g := h / (cfg.Heads / cfg.KVHeads)
				scores := make([]float64, i+1)
				var maxS float64 = math.Inf(-1)
				for t := 0; t <= i; t++ {
					var s float64
					for j := range hdim {
						s += q[i][h*hdim+j] * k[t][g*hdim+j]
					}
					scores[t] = s / math.Sqrt(float64(hdim))
					maxS = math.Max(maxS, scores[t])
				}
				var sum float64
				for t := range scores {
					scores[t] = math.Exp(scores[t] - maxS)
					sum += scores[t]
				}
				for t := range scores {
					for j := range hdim {
						att[h*hdim+j] += scores[t] / sum * v[t][g*hdim+j]
					}
				}
			}
			o := refLinear(r.vec(p+"attn_output.weight"), r.vec(p+"attn_output.bias"), att)
			for j := range o {
				x[i][j] += o[j]
			}
			xn := refRMSNorm(x[i], r.vec(p+"ffn_norm.weight"), eps)
			var gate, up []float64
			if r.vec(p+"ffn_gate.weight") != nil {
				gate = refLinear(r.vec(p+"ffn_gate.weight"), nil, xn)
				up = refLinear(r.vec(p+"ffn_up.weight"), nil, xn)
			} else {
				gu := refLinear(r.vec(p+"ffn_up.weight"), nil, xn)
				gate, up = gu[:cfg.FFN], gu[cfg.FFN:]
			}
			h := make([]float64, cfg.FFN)
			for j := range h {
				h[j] = gate[j] / (1 + math.Exp(-gate[j])) * up[j]
			}
			down := refLinear(r.vec(p+"ffn_down.weight"), nil, h)
			for j := range down {
				x[i][j] += down[j]
			}
		}
	}
	out := r.vec("output.weight")
	if out == nil {
		out = embd
	}
	logits := make([][]float64, len(tokens))
	for i := range tokens {
		logits[i] = refLinear(out, nil, refRMSNorm(x[i], r.vec("output_norm.weight"), eps))
	}
	return logits
}

// embedBert returns the mean-pooled, L2-normalized embedding.
func (r *refModel) embedBert(tokens []int) []float64 {
	cfg := r.cfg
	hd, hdim := cfg.Hidden, cfg.HeadDim
	eps := float64(cfg.NormEps)
	embd, pos, types := r.vec("token_embd.weight"), r.vec("position_embd.weight"), r.vec("token_types.weight")
	x := make([][]float64, len(tokens))
	for i, id := range tokens {
		row := make([]float64, hd)
		for j := range row {
			row[j] = embd[id*hd+j] + pos[i*hd+j] + types[j]
		}
		x[i] = refLayerNorm(row, r.vec("token_embd_norm.weight"), r.vec("token_embd_norm.bias"), eps)
	}
	for l := range cfg.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		q, k, v := make([][]float64, len(x)), make([][]float64, len(x)), make([][]float64, len(x))
		for i := range x {
			q[i] = refLinear(r.vec(p+"attn_q.weight"), r.vec(p+"attn_q.bias"), x[i])
			k[i] = refLinear(r.vec(p+"attn_k.weight"), r.vec(p+"attn_k.bias"), x[i])
			v[i] = refLinear(r.vec(p+"attn_v.weight"), r.vec(p+"attn_v.bias"), x[i])
		}
		next := make([][]float64, len(x))
		for i := range x {
			att := make([]float64, hd)
			for h := range cfg.Heads {
				scores := make([]float64, len(x))
				var sum float64
				for t := range x {
					var s float64
					for j := range hdim {
						s += q[i][h*hdim+j] * k[t][h*hdim+j]
					}
					scores[t] = math.Exp(s / math.Sqrt(float64(hdim)))
					sum += scores[t]
				}
				for t := range x {
					for j := range hdim {
						att[h*hdim+j] += scores[t] / sum * v[t][h*hdim+j]
					}
				}
			}
			o := refLinear(r.vec(p+"attn_output.weight"), r.vec(p+"attn_output.bias"), att)
			for j := range o {
				o[j] += x[i][j]
			}
			a := refLayerNorm(o, r.vec(p+"attn_output_norm.weight"), r.vec(p+"attn_output_norm.bias"), eps)
			up := refLinear(r.vec(p+"ffn_up.weight"), r.vec(p+"ffn_up.bias"), a)
			for j, u := range up {
				up[j] = 0.5 * u * (1 + math.Erf(u/math.Sqrt2))
			}
			down := refLinear(r.vec(p+"ffn_down.weight"), r.vec(p+"ffn_down.bias"), up)
			for j := range down {
				down[j] += a[j]
			}
			next[i] = refLayerNorm(down, r.vec(p+"layer_output_norm.weight"), r.vec(p+"layer_output_norm.bias"), eps)
		}
		x = next
	}
	out := make([]float64, hd)
	var ss float64
	for j := range out {
		for i := range x {
			out[j] += x[i][j] / float64(len(x))
		}
		ss += out[j] * out[j]
	}
	for j := range out {
		out[j] /= math.Sqrt(ss)
	}
	return out
}

// refConfig states, independently of the loaders, how each architecture is
// meant to run: llama.cpp rotates NEOX pairs for qwen2, adjacent pairs for
// llama and chatglm, and chatglm only on half of each head.
func refConfig(arch string, s Shape) Config {
	c := Config{Arch: arch, Hidden: s.Hidden, Layers: s.Layers, Heads: s.Heads, KVHeads: s.KVHeads,
		HeadDim: s.Hidden / s.Heads, FFN: s.FFN, NormEps: 1e-6, RopeBase: s.RopeBase, Rope: RopeNormal}
	c.RopeDims = c.HeadDim
	switch arch {
	case "qwen2":
		c.Rope = RopeNeox
	case "chatglm":
		c.RopeDims = c.HeadDim / 2
	case "bert":
		c.NormEps = 1e-12
	}
	return c
}

// tinyShape is small enough for a fast float64 reference yet has rows of
// 256 so every K-quant applies.
func tinyShape(arch string) Shape {
	s := Shape{Arch: arch, Vocab: 96, Hidden: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 512, ContextLen: 64, RopeBase: 10000}
	switch arch {
	case "qwen2":
		s.RopeBase = 1e6
		s.TiedEmbeddings = true
	case "bert":
		s.KVHeads = 4
	}
	return s
}

var refTypes = []struct {
	typ tensor.DType
	tol float64 // bound on relative error of logits vs the float64 reference
}{
	// F32 and F16 weights meet float32 activations; the quantized types
	// meet activations quantized to 8 bits, as llama.cpp does.
	{tensor.F32, 1e-5},
	{tensor.F16, 1e-5},
	{tensor.Q8_0, 3e-2},
	{tensor.Q4_0, 3e-2},
	{tensor.Q5_0, 3e-2},
	{tensor.Q4_K, 3e-2},
	{tensor.Q6_K, 3e-2},
}

// TestReferenceForward compares the optimized forward pass with the float64
// reference for every architecture and weight type, and cached decoding
// with a full recompute.
func TestReferenceForward(t *testing.T) {
	tokens := []int{3, 17, 42, 5, 88, 1, 64, 23}
	for _, arch := range []string{"qwen2", "llama", "chatglm", "bert"} {
		for _, rt := range refTypes {
			t.Run(arch+"/"+rt.typ.String(), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "m.gguf")
				mix := QuantMix{Name: rt.typ.String(), Base: rt.typ}
				if err := SynthesizeModel(context.Background(), path, tinyShape(arch), mix, 7); err != nil {
					t.Fatal(err)
				}
				f := openGGUF(t, path)
				n, err := LoadNetwork(f, LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ref := &refModel{t: t, f: f, arch: arch, cfg: refConfig(arch, tinyShape(arch))}
				if enc, ok := n.(Encoder); ok {
					got, err := enc.Embed(context.Background(), tokens)
					if err != nil {
						t.Fatal(err)
					}
					if e := relErr64(got, ref.embedBert(tokens)); e > rt.tol {
						t.Errorf("embedding relative error %.3g > %g", e, rt.tol)
					} else {
						t.Logf("embedding relative error %.3g", e)
					}
					return
				}
				m := n.(Model)
				want := ref.forwardDecoder(tokens)
				ctx := context.Background()
				// Prefill 5 tokens, then decode the rest one at a time.
				cache := m.NewCache(0)
				got, err := m.Forward(ctx, tokens[:5], 0, cache)
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr64(got, want[4]); e > rt.tol {
					t.Errorf("prefill logits relative error %.3g > %g", e, rt.tol)
				}
				for i := 5; i < len(tokens); i++ {
					if got, err = m.Forward(ctx, tokens[i:i+1], i, cache); err != nil {
						t.Fatal(err)
					}
					if e := relErr64(got, want[i]); e > rt.tol {
						t.Errorf("decode position %d logits relative error %.3g > %g", i, e, rt.tol)
					}
				}
				t.Logf("last logits relative error %.3g", relErr64(got, want[len(tokens)-1]))
				// A full recompute of all tokens gives the same last logits.
				full, err := m.Forward(ctx, tokens, 0, m.NewCache(0))
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(got, full); e > 1e-5 {
					t.Errorf("cached decode vs full recompute: relative error %.3g", e)
				}
				// Every position's logits, in one batched pass.
				all, err := m.(*Decoder).ForwardAll(ctx, tokens, 0, m.NewCache(0))
				if err != nil {
					t.Fatal(err)
				}
				v := m.Config().Vocab
				for i := range tokens {
					if e := relErr64(all[i*v:(i+1)*v], want[i]); e > rt.tol {
						t.Errorf("ForwardAll position %d: relative error %.3g > %g", i, e, rt.tol)
					}
				}
			})
		}
	}
}

// longQwen2 synthesizes (weights from seed) and loads an F32 qwen2 model of
// tinyShape with a context of 512.
func longQwen2(t *testing.T, seed uint64) (Shape, *gguf.File, *Decoder) {
	t.Helper()
	shape := tinyShape("qwen2")
	shape.ContextLen = 512
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := SynthesizeModel(context.Background(), path, shape, MixF32, seed); err != nil {
		t.Fatal(err)
	}
	f := openGGUF(t, path)
	n, err := LoadNetwork(f, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return shape, f, n.(*Decoder)
}

// TestChunkedPrefill checks that a prompt longer than prefillChunk, which
// Forward processes in chunks, gives the same logits and cache as one pass.
func TestChunkedPrefill(t *testing.T) {
	shape, _, d := longQwen2(t, 5)
	tokens := make([]int, 2*prefillChunk+37)
	for i := range tokens {
		tokens[i] = (i*31 + 7) % shape.Vocab
	}
	chunked, err := d.Forward(context.Background(), tokens, 0, d.NewCache(512))
	if err != nil {
		t.Fatal(err)
	}
	all, err := d.ForwardAll(context.Background(), tokens, 0, d.NewCache(512))
	if err != nil {
		t.Fatal(err)
	}
	last := all[(len(tokens)-1)*shape.Vocab:]
	if e := relErr(chunked, last); e > 1e-5 {
		t.Fatalf("chunked prefill differs from one pass by %.3g", e)
	}
}

// TestDecodeLayoutMatchesFileLayout checks that Q4_0 and Q8_0 models
// loaded into the decode kernels' interleaved layout (the default where
// this machine has those kernels: AVX-512 VNNI) give exactly the logits of
// the same models read in place (KeepLayout), in prefill and in cached
// decoding, and that the interleaved copy really is used where the kernels
// exist.
func TestDecodeLayoutMatchesFileLayout(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Q4_0, tensor.Q8_0} {
		t.Run(dt.String(), func(t *testing.T) { testDecodeLayout(t, dt) })
	}
}

func testDecodeLayout(t *testing.T, dt tensor.DType) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := SynthesizeModel(context.Background(), path, tinyShape("qwen2"), QuantMix{Name: dt.String(), Base: dt}, 7); err != nil {
		t.Fatal(err)
	}
	f := openGGUF(t, path)
	logits := func(keep bool) ([][]float32, bool) {
		n, err := LoadNetwork(f, LoadOptions{KeepLayout: keep})
		if err != nil {
			t.Fatal(err)
		}
		d := n.(*Decoder)
		ctx, cache := context.Background(), d.NewCache(0)
		tokens := []int{3, 17, 42, 5, 88, 1, 64, 23}
		var out [][]float32
		got, err := d.Forward(ctx, tokens[:5], 0, cache)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(got))
		for i := 5; i < len(tokens); i++ {
			if got, err = d.Forward(ctx, tokens[i:i+1], i, cache); err != nil {
				t.Fatal(err)
			}
			out = append(out, slices.Clone(got))
		}
		return out, d.layers[0].q.w.Interleaved() && d.output.Interleaved()
	}
	want, kept := logits(true)
	got, interleaved := logits(false)
	if kept {
		t.Fatal("KeepLayout still interleaved the weights")
	}
	if strings.HasPrefix(tensor.KernelName(), "avx512") && !interleaved {
		t.Fatalf("kernels %s have the strip decode kernel, but the %s weights were not interleaved", tensor.KernelName(), dt)
	}
	t.Logf("kernels %s, interleaved %v", tensor.KernelName(), interleaved)
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("step %d logit %d: %v interleaved, %v in the file's layout", i, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestLongContextMatchesReference checks attention past one block of
// cache rows and with a partial key tile (150 tokens: two blocks of
// attentionRows, the last tile 6 of 8 slots) against the float64
// reference, for a prefill and for cached decoding after it.
func TestLongContextMatchesReference(t *testing.T) {
	shape, f, m := longQwen2(t, 11)
	tokens := make([]int, 150)
	for i := range tokens {
		tokens[i] = (i*37 + 11) % shape.Vocab
	}
	ref := &refModel{t: t, f: f, arch: "qwen2", cfg: refConfig("qwen2", shape)}
	want := ref.forwardDecoder(tokens)
	ctx := context.Background()
	cache := m.NewCache(512)
	got, err := m.Forward(ctx, tokens[:141], 0, cache)
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr64(got, want[140]); e > 1e-4 {
		t.Errorf("prefill of 141 tokens: logits relative error %.3g", e)
	}
	for i := 141; i < len(tokens); i++ {
		if got, err = m.Forward(ctx, tokens[i:i+1], i, cache); err != nil {
			t.Fatal(err)
		}
		if e := relErr64(got, want[i]); e > 1e-4 {
			t.Errorf("decode position %d: logits relative error %.3g", i, e)
		}
	}
}
