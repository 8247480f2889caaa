package gguf

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkOpenVocab measures parsing a header the size of Qwen2.5's
// tokenizer metadata: 151,936 token strings, scores and types.
func BenchmarkOpenVocab(b *testing.B) {
	const n = 151936
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("tok%06d", i)
		scores[i] = float32(-i)
		types[i] = 1
	}
	w := NewWriter()
	must(b, w.AddKV("general.architecture", "qwen2"))
	must(b, w.AddKV("tokenizer.ggml.tokens", tokens))
	must(b, w.AddKV("tokenizer.ggml.scores", scores))
	must(b, w.AddKV("tokenizer.ggml.token_type", types))
	must(b, w.AddTensor("token_embd.weight", TypeQ8_0, []uint64{256, 64}, make([]byte, TypeQ8_0.RowBytes(256)*64)))
	var buf bytes.Buffer
	must(b, w.Write(context.Background(), &buf))
	path := filepath.Join(b.TempDir(), "vocab.gguf")
	must(b, os.WriteFile(path, buf.Bytes(), 0o644))
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if toks, _ := f.Strings("tokenizer.ggml.tokens"); len(toks) != n {
			b.Fatal("lost tokens")
		}
		f.Close()
	}
}

// BenchmarkWriteStream measures the writer's throughput for tensor data
// streamed from a callback.
func BenchmarkWriteStream(b *testing.B) {
	chunk := make([]byte, 1<<20)
	const tensors = 16
	for i := 0; i < b.N; i++ {
		w := NewWriter()
		for t := 0; t < tensors; t++ {
			must(b, w.AddTensorFunc(fmt.Sprintf("blk.%d.w", t), TypeF32, []uint64{1 << 18}, func(out io.Writer) error {
				_, err := out.Write(chunk)
				return err
			}))
		}
		must(b, w.Write(context.Background(), discard{}))
	}
	b.SetBytes(tensors << 20)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
