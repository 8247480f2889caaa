package llm

import (
	"context"
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"
	"zhiwen/internal/testref"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// testdataPath returns ../shared/testdata/<parts> relative to the repository
// root and fails the test when the file is missing.
func testdataPath(t testing.TB, parts ...string) string {
	t.Helper()
	return testref.Path(t, parts...)
}

// ggufBuilder collects metadata and float32 tensors for a test model file.
type ggufBuilder struct {
	t testing.TB
	w *gguf.Writer
}

func newGGUFBuilder(t testing.TB) *ggufBuilder {
	return &ggufBuilder{t: t, w: gguf.NewWriter()}
}

func (b *ggufBuilder) kv(key string, v any) {
	b.t.Helper()
	if err := b.w.AddKV(key, v); err != nil {
		b.t.Fatal(err)
	}
}

// tensor adds a rows×cols tensor (PyTorch [out, in] layout) stored as typ.
// rows == 0 means a vector of cols values.
func (b *ggufBuilder) tensor(name string, typ tensor.DType, rows, cols int, vals []float32) {
	b.t.Helper()
	if want := max(rows, 1) * cols; len(vals) != want {
		b.t.Fatalf("tensor %s: %d values, want %d", name, len(vals), want)
	}
	var data []byte
	if typ == tensor.F32 {
		data = make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
	} else {
		var err error
		if data, err = tensor.Quantize(typ, vals); err != nil {
			b.t.Fatalf("quantize %s: %v", name, err)
		}
	}
	shape := []uint64{uint64(cols)}
	if rows > 0 {
		shape = append(shape, uint64(rows))
	}
	if err := b.w.AddTensor(name, gguf.TensorType(typ), shape, data); err != nil {
		b.t.Fatal(err)
	}
}

// write writes the file into the test's temp dir and opens it.
func (b *ggufBuilder) open() *gguf.File {
	b.t.Helper()
	path := filepath.Join(b.t.TempDir(), "model.gguf")
	if err := gguf.WriteFile(context.Background(), path, b.w); err != nil {
		b.t.Fatal(err)
	}
	return openGGUF(b.t, path)
}

func openGGUF(t testing.TB, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// relErr is ‖got − want‖ / ‖want‖.
func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func relErr64(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
