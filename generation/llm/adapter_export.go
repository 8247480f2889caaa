package llm

import (
	"context"
	"fmt"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// SaveGGUFLoRA writes a LoRA adapter as a llama.cpp GGUF adapter
// (general.type = adapter, adapter.type = lora, adapter.lora.alpha,
// <weight>.lora_a and .lora_b in F32) for a base model of architecture arch.
// GGUF holds one alpha for the file; a weight whose scale differs from
// alpha/rank (rsLoRA, alpha_pattern) has the difference folded into its B.
func SaveGGUFLoRA(ctx context.Context, path, arch string, a *Adapter) error {
	if a == nil || a.Kind != AdapterLoRA || len(a.LoRA) == 0 {
		return fmt.Errorf("save GGUF LoRA %s: not a LoRA adapter", path)
	}
	names := a.loraNames()
	first := a.LoRA[names[0]]
	alpha := float64(first.Scale) * float64(first.Rank)
	w := gguf.NewWriter()
	for _, kv := range []struct {
		key string
		val any
	}{{"general.architecture", arch}, {"general.type", "adapter"}, {"general.name", a.Name},
		{"adapter.type", "lora"}, {"adapter.lora.alpha", float32(alpha)}} {
		if err := w.AddKV(kv.key, kv.val); err != nil {
			return fmt.Errorf("save GGUF LoRA %s: %w", path, err)
		}
	}
	for _, name := range names {
		lw := a.LoRA[name]
		bv := matrixFloats(lw.B)
		if fold := float64(lw.Scale) / (alpha / float64(lw.Rank)); fold != 1 {
			for i := range bv {
				bv[i] = float32(float64(bv[i]) * fold)
			}
		}
		if err := addF32Tensor(w, name+".lora_a", lw.A.Cols, lw.Rank, matrixFloats(lw.A)); err != nil {
			return fmt.Errorf("save GGUF LoRA %s: %w", path, err)
		}
		if err := addF32Tensor(w, name+".lora_b", lw.Rank, lw.B.Rows, bv); err != nil {
			return fmt.Errorf("save GGUF LoRA %s: %w", path, err)
		}
	}
	if err := gguf.WriteFile(ctx, path, w); err != nil {
		return fmt.Errorf("save GGUF LoRA %s: %w", path, err)
	}
	return nil
}

// addF32Tensor adds a rows×cols row-major matrix (GGUF shape [cols, rows]).
func addF32Tensor(w *gguf.Writer, name string, cols, rows int, vals []float32) error {
	return w.AddTensor(name, gguf.TensorType(tensor.F32), []uint64{uint64(cols), uint64(rows)}, gguf.EncodeFloat32s(vals))
}
