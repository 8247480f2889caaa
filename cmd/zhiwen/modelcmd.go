package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tensor"
)

func init() {
	register(&command{
		name: "quantize", usage: "--type q4_0|q8_0|q4_k_m|f16 IN.gguf OUT.gguf",
		summary: "Re-quantize a GGUF model (F32/F16 weights) to a smaller type.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			typ := fs.String("type", "q4_k_m", "target: "+strings.Join(quantNames(), ", ")+
				" (q4_k_m: Q4_K with Q6_K attn_v/ffn_down/output; rows not a multiple of 256 fall back to Q5_0/Q8_0)")
			return func(ctx context.Context, args []string) error {
				if len(args) != 2 {
					return fmt.Errorf("%w: want IN.gguf and OUT.gguf", errUsage)
				}
				q, ok := quantTargets[strings.ToLower(*typ)]
				if !ok {
					return fmt.Errorf("%w: unknown --type %q (want %s)", errUsage, *typ, strings.Join(quantNames(), ", "))
				}
				return quantizeFile(ctx, args[0], args[1], q)
			}
		},
	})
	register(&command{
		name: "synth", usage: "[--shape qwen2.5-0.5b|tiny] [--quant q4_0|q8_0|q4_k_m|f16|f32] [--tokenizer tokenizer.json] OUT.gguf",
		summary: "Write a random-weight model of a real shape (for benchmarks and demos; it talks gibberish).",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			shapeName := fs.String("shape", "qwen2.5-0.5b", "model shape: qwen2.5-0.5b or tiny")
			quant := fs.String("quant", "q4_0", "weight types: "+strings.Join(mixNames(), ", "))
			tok := fs.String("tokenizer", "", "embed this Hugging Face tokenizer.json (byte-level BPE, e.g. Qwen2.5's) so the model can chat")
			seed := fs.Uint64("seed", 1, "random seed of the weights")
			return func(ctx context.Context, args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("%w: want OUT.gguf", errUsage)
				}
				shape, ok := synthShapes[*shapeName]
				if !ok {
					return fmt.Errorf("%w: unknown --shape %q", errUsage, *shapeName)
				}
				mix, ok := benchMixes[strings.ToLower(*quant)]
				if !ok {
					return fmt.Errorf("%w: unknown --quant %q (want %s)", errUsage, *quant, strings.Join(mixNames(), ", "))
				}
				start := time.Now()
				if err := synthModel(ctx, args[0], shape, mix, *tok, *seed); err != nil {
					return err
				}
				st, err := os.Stat(args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "wrote %s (%s, %s, %s) in %v\n", args[0], *shapeName, mix.Name, formatBytes(st.Size()), time.Since(start).Round(time.Millisecond))
				return nil
			}
		},
	})
}

// synthShapes are the shapes `zhiwen synth` knows.
var synthShapes = map[string]llm.Shape{
	"qwen2.5-0.5b": llm.Qwen25_05B(),
	// tiny has Qwen2.5's vocabulary (so its tokenizer fits) and little else.
	"tiny": {Arch: "qwen2", Vocab: 151936, Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, ContextLen: 4096, RopeBase: 1e6, TiedEmbeddings: true},
}

// benchMixes are the weight mixes `zhiwen bench` and `zhiwen synth` offer.
var benchMixes = map[string]llm.QuantMix{
	"f32": llm.MixF32, "f16": llm.MixF16, "q8_0": llm.MixQ8_0, "q4_0": llm.MixQ4_0, "q4_k_m": llm.MixQ4KM,
}

func mixNames() []string { return sortedKeys(benchMixes) }

func quantNames() []string { return sortedKeys(quantTargets) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// synthModel writes a random-weight qwen2 model to path, with the
// tokenizer at tokPath embedded when tokPath is not empty.
func synthModel(ctx context.Context, path string, shape llm.Shape, mix llm.QuantMix, tokPath string, seed uint64) error {
	bar := newProgressBar(os.Stderr, "synthesize "+mix.Name)
	bar.Set(0, "weights")
	if tokPath == "" {
		if err := llm.SynthesizeQwen2(ctx, path, shape, mix, seed); err != nil {
			return err
		}
		bar.Done("done")
		return nil
	}
	tokKV, err := hfTokenizerKV(tokPath, shape.Vocab, "qwen2")
	if err != nil {
		return err
	}
	raw := path + ".weights"
	defer os.Remove(raw)
	if err := llm.SynthesizeQwen2(ctx, raw, shape, mix, seed); err != nil {
		return err
	}
	f, err := gguf.Open(raw)
	if err != nil {
		return err
	}
	defer f.Close()
	err = rewriteGGUF(ctx, f, path, nil, tokKV, nil, func(p float64) { bar.Set(p, "tokenizer") })
	if err != nil {
		return err
	}
	bar.Done("done")
	return nil
}

// quantizeFile converts the weight matrices of the GGUF file in to q's
// types and writes out.
func quantizeFile(ctx context.Context, in, out string, q quantTarget) error {
	f, err := gguf.Open(in)
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	defer f.Close()
	counts := map[string]int{}
	var requant []string
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		src := tensor.DType(ti.Type)
		if !src.Supported() {
			return fmt.Errorf("quantize %s: tensor %s has type %s, which cannot be converted", in, ti.Name, ti.Type)
		}
		t := q.typeFor(ti)
		counts[t.String()]++
		if t != ti.Type && src != tensor.F32 && src != tensor.F16 && src != tensor.BF16 {
			requant = append(requant, ti.Name)
		}
	}
	if len(requant) > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d tensors (%s, ...) are already quantized; converting them again loses precision\n", len(requant), requant[0])
	}
	bar := newProgressBar(os.Stderr, "quantize "+q.name)
	drop := map[string]bool{"general.file_type": true, "general.quantization_version": true}
	extra := []ggufKV{{"general.file_type", q.fileType}, {"general.quantization_version", uint32(2)}}
	start := time.Now()
	if err := rewriteGGUF(ctx, f, out, drop, extra, q.typeFor, func(p float64) { bar.Set(p, "") }); err != nil {
		return fmt.Errorf("quantize %s: %w", in, err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	var parts []string
	for _, t := range sortedKeys(counts) {
		parts = append(parts, fmt.Sprintf("%s×%d", t, counts[t]))
	}
	bar.Done(fmt.Sprintf("%s → %s (%s, %s → %s) in %v", in, out, strings.Join(parts, " "),
		formatBytes(f.Size), formatBytes(st.Size()), time.Since(start).Round(time.Millisecond)))
	return nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
