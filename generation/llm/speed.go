package llm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// SpeedResult is one prefill + decode measurement.
type SpeedResult struct {
	PromptTokens  int
	PromptSeconds float64
	GenTokens     int
	GenSeconds    float64
}

// PrefillTPS is prompt tokens per second.
func (r SpeedResult) PrefillTPS() float64 { return float64(r.PromptTokens) / r.PromptSeconds }

// DecodeTPS is generated tokens per second.
func (r SpeedResult) DecodeTPS() float64 { return float64(r.GenTokens) / r.GenSeconds }

// MeasureSpeed times a batched prefill of promptTokens random tokens and
// genTokens greedy decode steps after it (llama-bench's pp and tg).
func MeasureSpeed(ctx context.Context, m Model, promptTokens, genTokens int, seed uint64) (SpeedResult, error) {
	cfg := m.Config()
	rng := rand.New(rand.NewPCG(seed, 1))
	prompt := make([]int, promptTokens)
	for i := range prompt {
		prompt[i] = rng.IntN(cfg.Vocab)
	}
	cache := m.NewCache(promptTokens + genTokens + 1)
	res := SpeedResult{PromptTokens: promptTokens, GenTokens: genTokens}
	start := time.Now()
	logits, err := m.Forward(ctx, prompt, 0, cache)
	if err != nil {
		return res, fmt.Errorf("measure prefill: %w", err)
	}
	res.PromptSeconds = time.Since(start).Seconds()
	start = time.Now()
	for i := range genTokens {
		if logits, err = m.Forward(ctx, []int{argmax(logits)}, promptTokens+i, cache); err != nil {
			return res, fmt.Errorf("measure decode step %d: %w", i, err)
		}
	}
	res.GenSeconds = time.Since(start).Seconds()
	return res, nil
}

// ReleaseWeights frees at once the memory n holds besides its file's
// mapping (the weights copied into a kernel's layout at load, see
// LoadOptions.KeepLayout), which would otherwise go when n becomes
// unreachable. n must not be used afterwards.
func ReleaseWeights(n Network) {
	d, ok := n.(*Decoder)
	if !ok {
		return
	}
	// No read-ahead (see tensor.MatVecsThen) may still be reading the
	// weights when they, or the file under them, go.
	tensor.CancelPrefetch()
	for _, m := range d.matrices() {
		m.DropInterleaved()
	}
}

// decodeOrder lists the matrices a decode step multiplies by, each once,
// in the order it does: every layer's, then the output layer.
func (d *Decoder) decodeOrder() []*tensor.Matrix {
	ms := d.matrices()
	if d.tokenEmbd != d.output { // an untied embedding is only looked up
		ms = slices.DeleteFunc(ms, func(m *tensor.Matrix) bool { return m == d.tokenEmbd })
	}
	return ms
}

// matrices lists the decoder's weight matrices (each once), in the order
// a decode step multiplies by them, then the embedding table.
func (d *Decoder) matrices() []*tensor.Matrix {
	seen := map[*tensor.Matrix]bool{}
	var out []*tensor.Matrix
	add := func(ls ...linear) {
		for _, l := range ls {
			if l.w != nil && !seen[l.w] {
				seen[l.w] = true
				out = append(out, l.w)
			}
		}
	}
	for i := range d.layers {
		ly := &d.layers[i]
		add(ly.qkv, ly.q, ly.k, ly.v, ly.o, ly.gateUp, ly.gate, ly.up, ly.down)
	}
	add(linear{w: d.output}, linear{w: d.tokenEmbd})
	return out
}

// DecodeWeights returns the memory one decode step of m streams, the
// matrices as its kernels read them (see LoadOptions.KeepLayout), or nil
// for a network this package does not know the layout of. Streaming it
// measures the decode speed ceiling without touching pages the model does
// not use.
func DecodeWeights(m Network) [][]byte {
	d, ok := m.(*Decoder)
	if !ok {
		return nil
	}
	var out [][]byte
	for _, m := range d.decodeOrder() {
		out = append(out, m.DecodeBytes()...)
	}
	return out
}

// DecodeBytesPerToken estimates the weight bytes one decode step reads: every
// matrix once, except that the embedding table costs one row unless it also
// serves as the output layer. Divided into the memory bandwidth it gives the
// decode speed ceiling.
func DecodeBytesPerToken(f *gguf.File) int64 {
	_, hasOutput := f.Tensor("output.weight")
	var total int64
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Name == "token_embd.weight" && hasOutput {
			if len(ti.Shape) == 2 && ti.Shape[1] > 0 {
				total += int64(ti.Size / ti.Shape[1])
			}
			continue
		}
		total += int64(ti.Size)
	}
	return total
}
