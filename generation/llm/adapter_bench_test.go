package llm

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"zhiwen/generation/gguf"
)

// benchLoRA builds a random rank-r LoRA on the given targets of every
// layer, in memory.
func benchLoRA(b *testing.B, cfg Config, name string, rank int, seed uint64, targets ...loraTarget) *Adapter {
	b.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	a := &Adapter{Name: name, Kind: AdapterLoRA, Format: "bench", LoRA: map[string]*LoRAWeight{}}
	for l := range cfg.Layers {
		for _, t := range targets {
			rows, cols, ok := targetShape(cfg, t)
			if !ok {
				b.Fatalf("no %s in %s", loraTargetNames[t], cfg.Arch)
			}
			av := make([]float32, rank*cols)
			bv := make([]float32, rows*rank)
			for i := range av {
				av[i] = float32(rng.NormFloat64()) * 0.03
			}
			for i := range bv {
				bv[i] = float32(rng.NormFloat64()) * 0.03
			}
			w, err := newLoRAWeight(av, []int{rank, cols}, bv, []int{rows, rank}, 2)
			if err != nil {
				b.Fatal(err)
			}
			a.LoRA[weightName(l, t)] = w
		}
	}
	if err := a.Validate(cfg); err != nil {
		b.Fatal(err)
	}
	return a
}

// decodeTime prefills 8 tokens and times gen greedy decode steps with set
// installed, in wall-clock and process CPU time.
func decodeTime(b *testing.B, m Model, set *AdapterSet, gen int) (wall, cpu float64) {
	b.Helper()
	ctx := context.Background()
	cache := m.NewCache(8 + gen + 1)
	if err := cache.UseAdapters(set); err != nil {
		b.Fatal(err)
	}
	prompt := []int{1, 2, 3, 4, 5, 6, 7, 8}
	logits, err := m.Forward(ctx, prompt, 0, cache)
	if err != nil {
		b.Fatal(err)
	}
	start, cpu0 := time.Now(), processCPUTime()
	for i := range gen {
		if logits, err = m.Forward(ctx, []int{argmax(logits)}, len(prompt)+i, cache); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start).Seconds(), (processCPUTime() - cpu0).Seconds()
}

// BenchmarkLoRADecode measures decode speed on a Qwen2.5-0.5B-shaped
// Q4_K_M model without an adapter and with an unmerged LoRA of rank 8 and
// 64 on q, k, v and o. Each iteration decodes 32 tokens with every variant
// in turn, so that load on the machine affects all alike; the slowdown
// metrics compare them.
func BenchmarkLoRADecode(b *testing.B) {
	f := openGGUF(b, benchModel(b, MixQ4KM))
	n, err := LoadNetwork(f, LoadOptions{ContextLen: 256})
	if err != nil {
		b.Fatal(err)
	}
	m := n.(Model)
	cfg := m.Config()
	attn := []loraTarget{loraQ, loraK, loraV, loraO}
	variants := []struct {
		name string
		set  *AdapterSet
	}{{"base", nil}}
	for _, r := range []int{8, 64} {
		s, err := NewAdapterSet(cfg, AdapterUse{Adapter: benchLoRA(b, cfg, fmt.Sprintf("r%d", r), r, uint64(r), attn...), Scale: 1})
		if err != nil {
			b.Fatal(err)
		}
		variants = append(variants, struct {
			name string
			set  *AdapterSet
		}{fmt.Sprintf("r%d", r), s})
	}
	const gen = 32
	wall := make([]float64, len(variants))
	cpu := make([]float64, len(variants))
	for _, v := range variants { // warm up
		decodeTime(b, m, v.set, 4)
	}
	b.ResetTimer()
	round := 0
	for b.Loop() {
		// Rotate the order so that drifting load favours no variant.
		for k := range variants {
			i := (k + round) % len(variants)
			w, c := decodeTime(b, m, variants[i].set, gen)
			wall[i] += w
			cpu[i] += c
		}
		round++
	}
	for i, v := range variants {
		b.ReportMetric(float64(gen*b.N)/wall[i], v.name+"-tok/s")
		b.ReportMetric(float64(gen*b.N)/cpu[i], v.name+"-tok/cpu-s")
		if i > 0 {
			b.ReportMetric(100*(cpu[i]/cpu[0]-1), v.name+"-cpu-slowdown-%")
		}
	}
}

// BenchmarkAdapterSwitch measures installing a different adapter set on a
// sequence's cache (what a request choosing another adapter costs; the base
// model is not reloaded): between two rank-8 LoRA sets, and between a
// LoRA set and a 16-token prefix, on a 0.5B-shaped model with a
// 1024-token cache.
func BenchmarkAdapterSwitch(b *testing.B) {
	cfg := Config{Arch: "qwen2", Vocab: 151936, Hidden: 896, Layers: 24, Heads: 14, KVHeads: 2, HeadDim: 64, FFN: 4864}
	attn := []loraTarget{loraQ, loraK, loraV, loraO}
	mk := func(a *Adapter) *AdapterSet {
		s, err := NewAdapterSet(cfg, AdapterUse{Adapter: a, Scale: 1})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	l1 := mk(benchLoRA(b, cfg, "a", 8, 1, attn...))
	l2 := mk(benchLoRA(b, cfg, "b", 8, 2, attn...))
	p := &Prefix{Len: 16, Keys: make([][][]float32, cfg.Layers), Values: make([][][]float32, cfg.Layers)}
	for l := range cfg.Layers {
		for range p.Len {
			p.Keys[l] = append(p.Keys[l], make([]float32, cfg.KVDim()))
			p.Values[l] = append(p.Values[l], make([]float32, cfg.KVDim()))
		}
	}
	pre := mk(&Adapter{Name: "prefix", Kind: AdapterPrefix, Prefix: p})
	for _, tc := range []struct {
		name string
		x, y *AdapterSet
	}{{"lora-lora", l1, l2}, {"lora-prefix", l1, pre}} {
		b.Run(tc.name, func(b *testing.B) {
			cache := NewKVCache(cfg.Layers, cfg.KVDim(), 1024)
			i := 0
			for b.Loop() {
				s := tc.x
				if i%2 == 1 {
					s = tc.y
				}
				i++
				if err := cache.UseAdapters(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadAdapter measures loading a rank-8 PEFT LoRA on q, k, v and
// o of a 0.5B-shaped model from disk (the one-time cost of the first
// request naming an adapter; later requests reuse the loaded adapter).
func BenchmarkLoadAdapter(b *testing.B) {
	cfg := Config{Arch: "qwen2", Vocab: 151936, Hidden: 896, Layers: 24, Heads: 14, KVHeads: 2, HeadDim: 64, FFN: 4864}
	a := benchLoRA(b, cfg, "r8", 8, 1, loraQ, loraK, loraV, loraO)
	hf := map[loraTarget]string{loraQ: "q_proj", loraK: "k_proj", loraV: "v_proj", loraO: "o_proj"}
	var ts []gguf.SafeTensor
	for _, name := range a.loraNames() {
		layer, t, _ := parseWeightName(name)
		w := a.LoRA[name]
		stem := fmt.Sprintf("base_model.model.model.layers.%d.self_attn.%s", layer, hf[t])
		ts = append(ts,
			gguf.SafeTensor{Name: stem + ".lora_A.weight", DType: gguf.DTypeF32, Shape: []int{w.A.Rows, w.A.Cols}, Data: w.A.Data},
			gguf.SafeTensor{Name: stem + ".lora_B.weight", DType: gguf.DTypeF32, Shape: []int{w.B.Rows, w.B.Cols}, Data: w.B.Data})
	}
	dir := b.TempDir()
	var buf bytes.Buffer
	if err := gguf.WriteSafetensors(&buf, ts, nil); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(`{"peft_type":"LORA","r":8,"lora_alpha":16}`), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := LoadAdapter(dir, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
