// Package llm runs language models stored in GGUF files: decoder
// architectures (qwen2, llama, chatglm) for generation and bert for
// embeddings, over the kernels of package tensor.
//
// An architecture registers a loader under its GGUF general.architecture
// name (like database/sql drivers); Load opens a file, picks the loader, and
// builds the tokenizer and chat template from the file's metadata. Weights
// stay in the memory-mapped file. A decoder runs a batched prefill over a
// prompt and then decodes one token at a time against a KVCache.
package llm

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Pooling says how an encoder turns token states into one embedding.
type Pooling int

// Pooling types, numbered as GGUF {arch}.pooling_type.
const (
	PoolingNone Pooling = 0
	PoolingMean Pooling = 1
	PoolingCLS  Pooling = 2
	PoolingLast Pooling = 3
)

// Config is the shape of a model, read from GGUF metadata.
type Config struct {
	Arch       string
	Vocab      int
	Hidden     int
	Layers     int
	Heads      int
	KVHeads    int
	HeadDim    int
	FFN        int
	ContextLen int
	NormEps    float32
	Rope       RopeStyle
	RopeDims   int // rotated elements per head
	RopeBase   float64
	Pooling    Pooling // encoders only
	Causal     bool
}

// DefaultContextLen caps the KV cache that NewCache(0) allocates, since
// models declare contexts (32k and more) whose float32 cache would take
// gigabytes. Pass a length to NewCache, or LoadOptions.ContextLen, for more.
const DefaultContextLen = 4096

// KVDim is the width of one token's keys (or values) in a layer.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim }

// Model is a loaded network.
type Model interface {
	// Config describes the model's shape.
	Config() Config
	// NewCache returns an empty KV cache for ctxLen tokens (≤ 0: the
	// model's context length, at most DefaultContextLen).
	NewCache(ctxLen int) *KVCache
	// Forward runs tokens at positions pos, pos+1, ... (pos must not exceed
	// cache.Len(); a smaller pos rewinds the cache) and returns the logits
	// of the last token. As with llama.cpp's llama_get_logits, the result
	// lives in the cache and is valid until the next pass over the same
	// cache, which overwrites it: copy it to keep it (a decode step thus
	// allocates nothing).
	Forward(ctx context.Context, tokens []int, pos int, cache *KVCache) ([]float32, error)
}

// HiddenStater is implemented by decoders that can return the final hidden
// states (after the output norm, before the LM head) of every token.
type HiddenStater interface {
	ForwardHidden(ctx context.Context, tokens []int, pos int, cache *KVCache) ([]float32, error)
}

// Encoder is implemented by embedding models.
type Encoder interface {
	Config() Config
	// Embed returns the pooled, L2-normalized embedding of tokens.
	Embed(ctx context.Context, tokens []int) ([]float32, error)
}

// LoadOptions tunes model loading.
type LoadOptions struct {
	// ContextLen overrides the model's context length when > 0 (and then
	// also sizes NewCache(0) beyond DefaultContextLen).
	ContextLen int
	// KeepLayout reads every weight in place from the mapped file. By
	// default the matrices for which this machine has a faster decode
	// kernel in another layout (Q4_0, Q5_0 and Q8_0 with AVX-512 VNNI:
	// rows interleaved eight at a time, see tensor.Matrix.Interleave) are
	// copied into it at load and their file pages released, which leaves
	// resident memory the same and results identical bit for bit, at the
	// cost of the copy (about 0.6 s per GB on two cores).
	KeepLayout bool
}

// Network is what a loader builds: a Model (decoder) or an Encoder.
type Network interface {
	Config() Config
}

// LoaderFunc builds a network from a GGUF file's metadata and tensors.
type LoaderFunc func(w *Weights, opts LoadOptions) (Network, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]LoaderFunc{}
)

// Register makes an architecture loadable under its GGUF
// general.architecture name. It panics if the name is registered twice,
// which is a programming error.
func Register(arch string, load LoaderFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[arch]; dup {
		panic("llm: architecture registered twice: " + arch)
	}
	registry[arch] = load
}

// Architectures lists the registered architecture names.
func Architectures() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func loaderFor(arch string) (LoaderFunc, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	load, ok := registry[arch]
	if !ok {
		return nil, fmt.Errorf("unsupported architecture %q (supported: %v)", arch, Architectures())
	}
	return load, nil
}
