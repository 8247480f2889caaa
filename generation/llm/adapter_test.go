package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// hfModule is one LoRA-able module of a Hugging Face checkpoint and the
// llama.cpp weight it becomes.
type hfModule struct {
	path   string // below model.layers.N. (or transformer.encoder.layers.N.)
	weight string // llama.cpp name below blk.N.
}

func hfModules(arch string) (prefix string, mods []hfModule) {
	if arch == "chatglm" {
		return "base_model.model.transformer.encoder.layers.%d.", []hfModule{
			{"self_attention.query_key_value", "attn_qkv"},
			{"self_attention.dense", "attn_output"},
			{"mlp.dense_h_to_4h", "ffn_up"},
			{"mlp.dense_4h_to_h", "ffn_down"},
		}
	}
	return "base_model.model.model.layers.%d.", []hfModule{
		{"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
		{"self_attn.v_proj", "attn_v"}, {"self_attn.o_proj", "attn_output"},
		{"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"}, {"mlp.down_proj", "ffn_down"},
	}
}

// testLoRA is a random LoRA adapter kept in float64 for the reference.
type testLoRA struct {
	rank  int
	alpha float64
	// per llama.cpp weight name: A [rank, in], B [out, rank] row-major,
	// and the HF key stem.
	a, b map[string][]float64
	in   map[string]int
	stem map[string]string
}

// weightShape reads a weight's rows and cols from the model file.
func weightShape(t *testing.T, f *gguf.File, name string) (rows, cols int) {
	t.Helper()
	ti, ok := f.Tensor(name)
	if !ok || len(ti.Shape) != 2 {
		t.Fatalf("base model has no matrix %s", name)
	}
	return int(ti.Shape[1]), int(ti.Shape[0])
}

// randomLoRA makes a rank-r update for every module of every layer (only
// the modules whose names are in only, when given). zeroB makes B zero.
func randomLoRA(t *testing.T, f *gguf.File, cfg Config, rank int, alpha float64, seed uint64, zeroB bool, only ...string) *testLoRA {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	l := &testLoRA{rank: rank, alpha: alpha, a: map[string][]float64{}, b: map[string][]float64{}, in: map[string]int{}, stem: map[string]string{}}
	prefix, mods := hfModules(cfg.Arch)
	for layer := range cfg.Layers {
		for _, m := range mods {
			if len(only) > 0 && !contains(only, m.weight) {
				continue
			}
			name := fmt.Sprintf("blk.%d.%s.weight", layer, m.weight)
			rows, cols := weightShape(t, f, name)
			a := make([]float64, rank*cols)
			for i := range a {
				a[i] = rng.NormFloat64() / math.Sqrt(float64(cols))
			}
			b := make([]float64, rows*rank)
			if !zeroB {
				for i := range b {
					b[i] = 0.3 * rng.NormFloat64() / math.Sqrt(float64(rank))
				}
			}
			l.a[name], l.b[name], l.in[name] = a, b, cols
			l.stem[name] = fmt.Sprintf(prefix, layer) + m.path
		}
	}
	return l
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func f32bytes(xs []float64) []byte {
	out := make([]float32, len(xs))
	for i, v := range xs {
		out[i] = float32(v)
	}
	return gguf.EncodeFloat32s(out)
}

// writePEFT writes the adapter as a PEFT directory with config (merged
// over the LoRA defaults) and returns its path.
func (l *testLoRA) writePEFT(t *testing.T, config map[string]any) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "peft-lora")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var ts []gguf.SafeTensor
	for name, a := range l.a {
		ts = append(ts,
			gguf.SafeTensor{Name: l.stem[name] + ".lora_A.weight", DType: gguf.DTypeF32, Shape: []int{l.rank, l.in[name]}, Data: f32bytes(a)},
			gguf.SafeTensor{Name: l.stem[name] + ".lora_B.weight", DType: gguf.DTypeF32, Shape: []int{len(l.b[name]) / l.rank, l.rank}, Data: f32bytes(l.b[name])})
	}
	var buf bytes.Buffer
	if err := gguf.WriteSafetensors(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "adapter_model.safetensors"), buf.Bytes())
	cfg := map[string]any{
		"peft_type": "LORA", "r": l.rank, "lora_alpha": l.alpha, "lora_dropout": 0.05,
		"target_modules": []string{"q_proj", "v_proj"}, "task_type": "CAUSAL_LM",
		"some_future_option": map[string]any{"x": 1}, // unknown keys are ignored
	}
	for k, v := range config {
		cfg[k] = v
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "adapter_config.json"), raw)
	return dir
}

// writeGGUF writes the adapter as a llama.cpp GGUF LoRA with B stored as
// F16 (so the reference rounds B to F16 too).
func (l *testLoRA) writeGGUF(t *testing.T, arch string) string {
	t.Helper()
	w := gguf.NewWriter()
	for _, kv := range []struct {
		k string
		v any
	}{{"general.architecture", arch}, {"general.type", "adapter"}, {"adapter.type", "lora"},
		{"general.name", "gguf-lora"}, {"adapter.lora.alpha", float32(l.alpha)}} {
		if err := w.AddKV(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	for name, a := range l.a {
		b := l.b[name]
		half := make([]byte, 2*len(b))
		for i, v := range b {
			h := tensor.F32ToF16(float32(v))
			b[i] = float64(tensor.F16ToF32(h))
			half[2*i], half[2*i+1] = byte(h), byte(h>>8)
		}
		out := len(b) / l.rank
		if err := w.AddTensor(name+".lora_a", gguf.TypeF32, []uint64{uint64(l.in[name]), uint64(l.rank)}, f32bytes(a)); err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(name+".lora_b", gguf.TypeF16, []uint64{uint64(l.rank), uint64(out)}, half); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "lora.gguf")
	if err := gguf.WriteFile(context.Background(), path, w); err != nil {
		t.Fatal(err)
	}
	return path
}

// addTo adds scale·B·A to the reference's float64 weights.
func (l *testLoRA) addTo(ref *refModel, scale float64) {
	for name, a := range l.a {
		w := ref.vec(name)
		b, in, r := l.b[name], l.in[name], l.rank
		rows := len(b) / r
		for o := range rows {
			for k := range r {
				c := scale * b[o*r+k]
				for i := range in {
					w[o*in+i] += c * a[k*in+i]
				}
			}
		}
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tinyModel synthesizes and loads a tiny model of arch stored as typ.
func tinyModel(t *testing.T, arch string, typ tensor.DType) (*gguf.File, *Decoder) {
	t.Helper()
	path := filepath.Join(t.TempDir(), arch+".gguf")
	if err := SynthesizeModel(context.Background(), path, tinyShape(arch), QuantMix{Name: typ.String(), Base: typ}, 7); err != nil {
		t.Fatal(err)
	}
	f := openGGUF(t, path)
	n, err := LoadNetwork(f, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f, n.(*Decoder)
}

var adapterTokens = []int{3, 17, 42, 5, 88, 1, 64, 23}

// runTokens prefills 5 tokens then decodes the rest one at a time with the
// set installed, returning the logits of positions 4..7.
func runTokens(t *testing.T, m Model, set *AdapterSet) [][]float32 {
	t.Helper()
	ctx := context.Background()
	cache := m.NewCache(32)
	if err := cache.UseAdapters(set); err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	logits, err := m.Forward(ctx, adapterTokens[:5], 0, cache)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, slices.Clone(logits))
	for i := 5; i < len(adapterTokens); i++ {
		if logits, err = m.Forward(ctx, adapterTokens[i:i+1], i, cache); err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(logits))
	}
	return out
}

func mustSet(t *testing.T, cfg Config, uses ...AdapterUse) *AdapterSet {
	t.Helper()
	s, err := NewAdapterSet(cfg, uses...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustLoad(t *testing.T, path string, cfg Config) *Adapter {
	t.Helper()
	a, err := LoadAdapter(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// compareRef checks logits of positions 4..7 against the reference.
func compareRef(t *testing.T, what string, got [][]float32, want [][]float64, tol float64) {
	t.Helper()
	worst := 0.0
	for i, g := range got {
		e := relErr64(g, want[4+i])
		worst = max(worst, e)
		if e > tol {
			t.Errorf("%s: position %d: relative error %.3g > %g", what, 4+i, e, tol)
		}
	}
	t.Logf("%s: worst relative error %.3g", what, worst)
}

// TestLoRAUnmergedMergedReference checks that a PEFT LoRA applied unmerged
// over the base weights, the same LoRA merged into a new GGUF, and a
// float64 reference forward pass over W + s·B·A agree, for float and
// quantized bases; and that the adapter really changes the output.
func TestLoRAUnmergedMergedReference(t *testing.T) {
	cases := []struct {
		arch    string
		typ     tensor.DType
		outType tensor.DType
		tol     float64
	}{
		{"qwen2", tensor.F32, tensor.F32, 1e-5},
		{"chatglm", tensor.F32, tensor.F32, 1e-5},
		{"qwen2", tensor.Q8_0, tensor.Q8_0, 3e-2},
		{"qwen2", tensor.Q4_K, tensor.F16, 3e-2},
	}
	for _, tc := range cases {
		t.Run(tc.arch+"/"+tc.typ.String(), func(t *testing.T) {
			f, m := tinyModel(t, tc.arch, tc.typ)
			cfg := m.Config()
			lora := randomLoRA(t, f, cfg, 8, 16, 1, false)
			adapter := mustLoad(t, lora.writePEFT(t, nil), cfg)
			if adapter.Kind != AdapterLoRA || adapter.Format != "peft" || len(adapter.LoRA) != len(lora.a) {
				t.Fatalf("loaded %s", adapter.Describe())
			}
			set := mustSet(t, cfg, AdapterUse{Adapter: adapter, Scale: 1})

			base := &refModel{t: t, f: f, arch: tc.arch, cfg: cfg}
			plain := base.forwardDecoder(adapterTokens)
			ref := &refModel{t: t, f: f, arch: tc.arch, cfg: cfg}
			lora.addTo(ref, 16.0/8)
			want := ref.forwardDecoder(adapterTokens)
			if e := relErr64(float32s(plain[7]), want[7]); e < 0.05 {
				t.Fatalf("the adapter changes the reference logits by only %.3g; test is too weak", e)
			}

			unmerged := runTokens(t, m, set)
			compareRef(t, "unmerged", unmerged, want, tc.tol)

			mergedPath := filepath.Join(t.TempDir(), "merged.gguf")
			if err := MergeLoRA(context.Background(), mergedPath, f, set, tc.outType); err != nil {
				t.Fatal(err)
			}
			mf := openGGUF(t, mergedPath)
			if v, _ := mf.String("zhiwen.merged_adapters"); v != adapter.Name {
				t.Errorf("merged file records adapters %q, want %q", v, adapter.Name)
			}
			mn, err := LoadNetwork(mf, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			merged := runTokens(t, mn.(Model), nil)
			mergedTol := tc.tol
			if tc.outType != tensor.F32 && tc.typ == tensor.F32 {
				mergedTol = 3e-2
			}
			compareRef(t, "merged", merged, want, mergedTol)
			for i := range merged {
				if e := relErr(merged[i], unmerged[i]); e > max(mergedTol, tc.tol) {
					t.Errorf("merged vs unmerged position %d: relative error %.3g", 4+i, e)
				}
			}
			// The unmerged base is untouched: without the set the model
			// still gives the base logits.
			compareRef(t, "base after use", runTokens(t, m, nil), plain, tc.tol)
		})
	}
}

func float32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// TestLoRAZeroBChangesNothing: an adapter whose B is zero gives exactly
// the base model's logits.
func TestLoRAZeroBChangesNothing(t *testing.T) {
	for _, arch := range []string{"qwen2", "chatglm"} {
		t.Run(arch, func(t *testing.T) {
			f, m := tinyModel(t, arch, tensor.Q8_0)
			cfg := m.Config()
			lora := randomLoRA(t, f, cfg, 4, 8, 2, true)
			a := mustLoad(t, lora.writePEFT(t, nil), cfg)
			with := runTokens(t, m, mustSet(t, cfg, AdapterUse{Adapter: a, Scale: 1}))
			without := runTokens(t, m, nil)
			for i := range with {
				for j := range with[i] {
					if with[i][j] != without[i][j] {
						t.Fatalf("position %d logit %d: %v with a B=0 adapter, %v without", 4+i, j, with[i][j], without[i][j])
					}
				}
			}
		})
	}
}

// TestLoRATwoAdaptersWithScales combines a PEFT adapter (scale 0.5) and a
// GGUF adapter (scale 2) on different and overlapping weights.
func TestLoRATwoAdaptersWithScales(t *testing.T) {
	f, m := tinyModel(t, "qwen2", tensor.F32)
	cfg := m.Config()
	l1 := randomLoRA(t, f, cfg, 8, 16, 3, false, "attn_q", "attn_v", "ffn_down")
	l2 := randomLoRA(t, f, cfg, 4, 4, 4, false, "attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up")
	a1 := mustLoad(t, l1.writePEFT(t, nil), cfg)
	a2 := mustLoad(t, l2.writeGGUF(t, "qwen2"), cfg) // rounds l2.b to F16
	if a2.Format != "gguf" || a2.Name != "gguf-lora" {
		t.Fatalf("GGUF adapter loaded as %s", a2.Describe())
	}
	ref := &refModel{t: t, f: f, arch: "qwen2", cfg: cfg}
	l1.addTo(ref, 0.5*16/8)
	l2.addTo(ref, 2*4/4)
	want := ref.forwardDecoder(adapterTokens)
	set := mustSet(t, cfg, AdapterUse{Adapter: a1, Scale: 0.5}, AdapterUse{Adapter: a2, Scale: 2})
	if set.Name() != a1.Name+"+gguf-lora" {
		t.Errorf("set name %q", set.Name())
	}
	compareRef(t, "two adapters", runTokens(t, m, set), want, 1e-5)
}

// TestLoRAConcurrentSequences runs sequences with different adapter sets
// over one loaded model at the same time.
func TestLoRAConcurrentSequences(t *testing.T) {
	f, m := tinyModel(t, "qwen2", tensor.Q8_0)
	cfg := m.Config()
	sets := []*AdapterSet{nil}
	for i := range 3 {
		l := randomLoRA(t, f, cfg, 4, 8, uint64(10+i), false, "attn_q", "attn_v")
		sets = append(sets, mustSet(t, cfg, AdapterUse{Adapter: mustLoad(t, l.writePEFT(t, nil), cfg), Scale: 1}))
	}
	want := make([][][]float32, len(sets))
	for i, s := range sets {
		want[i] = runTokens(t, m, s)
	}
	var wg sync.WaitGroup
	got := make([][][]float32, 2*len(sets))
	for i := range got {
		wg.Go(func() { got[i] = runTokens(t, m, sets[i%len(sets)]) })
	}
	wg.Wait()
	for i, g := range got {
		w := want[i%len(sets)]
		if e := relErr(g[3], w[3]); e > 1e-6 {
			t.Errorf("sequence %d (set %d): relative error %.3g vs sequential run", i, i%len(sets), e)
		}
	}
	if e := relErr(want[1][3], want[2][3]); e < 1e-3 {
		t.Errorf("different adapters gave the same logits (difference %.3g)", e)
	}
}

// TestLoRAScales checks the scale rules: alpha/r, rsLoRA alpha/√r, and
// rank_pattern / alpha_pattern overrides.
func TestLoRAScales(t *testing.T) {
	f, m := tinyModel(t, "qwen2", tensor.F32)
	cfg := m.Config()
	cases := []struct {
		name   string
		config map[string]any
		rank   int
		want   map[string]float64 // weight name → scale
	}{
		{"plain", map[string]any{"r": 8, "lora_alpha": 16}, 8,
			map[string]float64{"blk.0.attn_q.weight": 2, "blk.1.attn_v.weight": 2}},
		{"rslora", map[string]any{"r": 4, "lora_alpha": 8, "use_rslora": true}, 4,
			map[string]float64{"blk.0.attn_q.weight": 4, "blk.1.attn_v.weight": 4}},
		{"patterns", map[string]any{"r": 16, "lora_alpha": 32,
			"rank_pattern":  map[string]int{"q_proj": 4, "self_attn.v_proj": 4},
			"alpha_pattern": map[string]float64{"layers.0.self_attn.v_proj": 2}}, 4,
			map[string]float64{"blk.0.attn_q.weight": 8, "blk.1.attn_q.weight": 8, "blk.0.attn_v.weight": 0.5, "blk.1.attn_v.weight": 8}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := randomLoRA(t, f, cfg, tc.rank, 0, 5, false, "attn_q", "attn_v")
			a := mustLoad(t, l.writePEFT(t, tc.config), cfg)
			for name, want := range tc.want {
				w, ok := a.LoRA[name]
				if !ok {
					t.Fatalf("no update for %s", name)
				}
				if math.Abs(float64(w.Scale)-want) > 1e-6 {
					t.Errorf("%s: scale %v, want %v", name, w.Scale, want)
				}
			}
		})
	}
	// A rank that contradicts the config is refused, naming the tensor.
	l := randomLoRA(t, f, cfg, 4, 8, 5, false, "attn_q")
	_, err := LoadAdapter(l.writePEFT(t, map[string]any{"r": 8}), cfg)
	if err == nil || !strings.Contains(err.Error(), "q_proj.lora_A.weight") {
		t.Errorf("rank mismatch: error %v, want one naming q_proj.lora_A.weight", err)
	}
}

// TestRopePermutation checks the Hugging Face → llama.cpp row order of
// Llama's Q/K weights: per head, rows [x0 x1 y0 y1] become [x0 y0 x1 y1].
func TestRopePermutation(t *testing.T) {
	// 2 heads of 4 rows, 1 column: rows numbered 0..7.
	in := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	got := permuteRowsForRope(in, 8, 1, 2)
	want := []float32{0, 2, 1, 3, 4, 6, 5, 7}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("permuted rows %v, want %v", got, want)
		}
	}
}

// TestAdapterRefusesMalformed checks that bad adapters are refused with an
// error naming the offending tensor, and that the model keeps working.
func TestAdapterRefusesMalformed(t *testing.T) {
	f, m := tinyModel(t, "qwen2", tensor.F32)
	cfg := m.Config()
	good := randomLoRA(t, f, cfg, 4, 8, 6, false, "attn_q", "ffn_down")

	peftWith := func(edit func(ts []gguf.SafeTensor) []gguf.SafeTensor, config map[string]any) string {
		dir := good.writePEFT(t, config)
		st, err := gguf.OpenSafetensors(filepath.Join(dir, "adapter_model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		ts := make([]gguf.SafeTensor, len(st.Tensors))
		for i, x := range st.Tensors {
			ts[i] = gguf.SafeTensor{Name: x.Name, DType: x.DType, Shape: append([]int(nil), x.Shape...), Data: append([]byte(nil), x.Data...)}
		}
		st.Close()
		ts = edit(ts)
		var buf bytes.Buffer
		if err := gguf.WriteSafetensors(&buf, ts, nil); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "adapter_model.safetensors"), buf.Bytes())
		return dir
	}
	find := func(ts []gguf.SafeTensor, suffix string) *gguf.SafeTensor {
		for i := range ts {
			if strings.HasSuffix(ts[i].Name, suffix) {
				return &ts[i]
			}
		}
		t.Fatalf("no tensor %s", suffix)
		return nil
	}
	const q1A = "model.layers.1.self_attn.q_proj.lora_A.weight"
	const q1B = "model.layers.1.self_attn.q_proj.lora_B.weight"
	cases := []struct {
		name string
		path func() string
		want string
	}{
		{"B rows do not fit", func() string {
			return peftWith(func(ts []gguf.SafeTensor) []gguf.SafeTensor {
				b := find(ts, q1B)
				b.Shape[0] /= 2
				b.Data = b.Data[:len(b.Data)/2]
				return ts
			}, nil)
		}, "blk.1.attn_q.weight.lora_b"},
		{"A columns do not fit", func() string {
			return peftWith(func(ts []gguf.SafeTensor) []gguf.SafeTensor {
				a := find(ts, q1A)
				a.Shape[1] /= 2
				a.Data = a.Data[:len(a.Data)/2]
				return ts
			}, nil)
		}, "blk.1.attn_q.weight.lora_a"},
		{"missing B", func() string {
			return peftWith(func(ts []gguf.SafeTensor) []gguf.SafeTensor {
				var out []gguf.SafeTensor
				for _, x := range ts {
					if !strings.HasSuffix(x.Name, q1B) {
						out = append(out, x)
					}
				}
				return out
			}, nil)
		}, q1B},
		{"NaN", func() string {
			return peftWith(func(ts []gguf.SafeTensor) []gguf.SafeTensor {
				a := find(ts, q1A)
				copy(a.Data, gguf.EncodeFloat32s([]float32{float32(math.NaN())}))
				return ts
			}, nil)
		}, q1A},
		{"layer beyond the model", func() string {
			return peftWith(func(ts []gguf.SafeTensor) []gguf.SafeTensor {
				for i := range ts {
					ts[i].Name = strings.Replace(ts[i].Name, "layers.1.", "layers.7.", 1)
				}
				return ts
			}, nil)
		}, "blk.7.attn_q.weight"},
		{"embedding LoRA", func() string {
			return peftWith(func(ts []gguf.SafeTensor) []gguf.SafeTensor {
				return append(ts, gguf.SafeTensor{Name: "base_model.model.lm_head.lora_A.weight", DType: gguf.DTypeF32, Shape: []int{1, 1}, Data: make([]byte, 4)})
			}, nil)
		}, "lm_head.lora_A.weight"},
		{"modules_to_save", func() string {
			return peftWith(func(ts []gguf.SafeTensor) []gguf.SafeTensor {
				return append(ts, gguf.SafeTensor{Name: "base_model.model.lm_head.modules_to_save.default.weight", DType: gguf.DTypeF32, Shape: []int{1, 1}, Data: make([]byte, 4)})
			}, nil)
		}, "modules_to_save"},
		{"DoRA", func() string { return good.writePEFT(t, map[string]any{"use_dora": true}) }, "DoRA"},
		{"truncated safetensors", func() string {
			dir := good.writePEFT(t, nil)
			p := filepath.Join(dir, "adapter_model.safetensors")
			raw, _ := os.ReadFile(p)
			writeFile(t, p, raw[:len(raw)/2])
			return dir
		}, "adapter_model.safetensors"},
		{"bad config JSON", func() string {
			dir := good.writePEFT(t, nil)
			writeFile(t, filepath.Join(dir, "adapter_config.json"), []byte("{\"peft_type\": "))
			return dir
		}, "adapter_config.json"},
		{"GGUF for another architecture", func() string { return good.writeGGUF(t, "llama") }, "architecture llama"},
		{"GGUF model, not an adapter", func() string { return f.Name }, "general.type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := LoadAdapter(tc.path(), cfg)
			if err == nil {
				t.Fatalf("accepted: %s", a.Describe())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			} else {
				t.Logf("refused: %v", err)
			}
		})
	}
	// An adapter for another model shape is refused when combined.
	a := mustLoad(t, good.writePEFT(t, nil), cfg)
	other := cfg
	other.Hidden *= 2
	if _, err := NewAdapterSet(other, AdapterUse{Adapter: a, Scale: 1}); err == nil || !strings.Contains(err.Error(), "blk.") {
		t.Errorf("adapter set for a different shape: error %v", err)
	}
	// A set built for another model cannot run on this one.
	llamaCfg := cfg
	llamaCfg.Arch = "llama"
	cache := m.NewCache(8)
	if err := cache.UseAdapters(mustSet(t, llamaCfg, AdapterUse{Adapter: a, Scale: 1})); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(context.Background(), []int{1}, 0, cache); err == nil || !strings.Contains(err.Error(), "another model shape") {
		t.Errorf("forward with a set for another model: error %v", err)
	}
	// The model still serves.
	if len(runTokens(t, m, nil)) != 4 {
		t.Fatal("model stopped serving")
	}
}
