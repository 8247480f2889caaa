package llm

import (
	"fmt"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// Weights gives loaders typed access to a GGUF file's metadata and tensors,
// with errors that name the file, key or tensor. Matrices point into the
// file's mapping; the file must stay open while the model is used.
type Weights struct {
	File *gguf.File
	Arch string
}

// NewWeights wraps an opened GGUF file.
func NewWeights(f *gguf.File) *Weights {
	return &Weights{File: f, Arch: f.Architecture()}
}

func (w *Weights) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", w.File.Name, fmt.Sprintf(format, args...))
}

// archKey expands "%s.block_count" style keys with the architecture name.
func (w *Weights) archKey(key string) string { return fmt.Sprintf(key, w.Arch) }

// Int returns the integer metadata key (with %s replaced by the
// architecture), or def when absent. def < 0 makes the key required.
func (w *Weights) Int(key string, def int) (int, error) {
	k := w.archKey(key)
	v, ok := w.File.Int(k)
	if !ok {
		if _, present := w.File.Get(k); present {
			return 0, w.errorf("metadata %s is not an integer", k)
		}
		if def < 0 {
			return 0, w.errorf("missing metadata %s", k)
		}
		return def, nil
	}
	if v < 0 || v > 1<<31 {
		return 0, w.errorf("metadata %s = %d out of range", k, v)
	}
	return int(v), nil
}

// Float returns the float metadata key, or def when absent.
func (w *Weights) Float(key string, def float64) (float64, error) {
	k := w.archKey(key)
	v, ok := w.File.Float(k)
	if !ok {
		if _, present := w.File.Get(k); present {
			return 0, w.errorf("metadata %s is not a number", k)
		}
		return def, nil
	}
	return v, nil
}

// Bool returns the bool metadata key, or def when absent.
func (w *Weights) Bool(key string, def bool) bool {
	v, ok := w.File.Bool(w.archKey(key))
	if !ok {
		return def
	}
	return v
}

// Has reports whether the tensor exists.
func (w *Weights) Has(name string) bool {
	_, ok := w.File.Tensor(name)
	return ok
}

// Matrix returns the 2-D tensor name as a rows×cols matrix over the file's
// bytes, checking its shape (GGUF shape [cols, rows]).
func (w *Weights) Matrix(name string, rows, cols int) (*tensor.Matrix, error) {
	ti, ok := w.File.Tensor(name)
	if !ok {
		return nil, w.errorf("missing tensor %s", name)
	}
	if len(ti.Shape) < 1 || len(ti.Shape) > 2 || int(ti.Shape[0]) != cols || (len(ti.Shape) == 2 && int(ti.Shape[1]) != rows) || (len(ti.Shape) == 1 && rows != 1) {
		return nil, w.errorf("tensor %s has shape %v, want [%d %d]", name, ti.Shape, cols, rows)
	}
	data, err := w.File.TensorData(ti)
	if err != nil {
		return nil, w.errorf("tensor %s: %v", name, err)
	}
	m, err := tensor.NewMatrix(tensor.DType(ti.Type), rows, cols, data)
	if err != nil {
		return nil, w.errorf("tensor %s: %v", name, err)
	}
	return m, nil
}

// decodeLayout copies ms, the matrices a decoder multiplies by one token
// at a time in the order it does so, into the layout of this machine's
// fastest decode kernel where it has one (tensor.Matrix.Interleave), back
// to back in one arena (tensor.Arena), releasing their pages of the
// mapped file as they are copied, so that the copies take their place in
// memory.
func (w *Weights) decodeLayout(ms []*tensor.Matrix) {
	a := tensor.NewArena(tensor.ArenaBytes(ms))
	for _, m := range ms {
		m.InterleaveIn(a, w.File.Release)
	}
}

// OptMatrix is Matrix for a tensor that may be absent (nil, nil).
func (w *Weights) OptMatrix(name string, rows, cols int) (*tensor.Matrix, error) {
	if !w.Has(name) {
		return nil, nil
	}
	return w.Matrix(name, rows, cols)
}

// Vector returns the 1-D tensor name (n elements, any supported type)
// converted to float32.
func (w *Weights) Vector(name string, n int) ([]float32, error) {
	ti, ok := w.File.Tensor(name)
	if !ok {
		return nil, w.errorf("missing tensor %s", name)
	}
	if ti.Elements() != uint64(n) {
		return nil, w.errorf("tensor %s has shape %v, want %d elements", name, ti.Shape, n)
	}
	data, err := w.File.TensorData(ti)
	if err != nil {
		return nil, w.errorf("tensor %s: %v", name, err)
	}
	out := make([]float32, n)
	if err := tensor.Dequantize(tensor.DType(ti.Type), data, out); err != nil {
		return nil, w.errorf("tensor %s: %v", name, err)
	}
	return out, nil
}

// OptVector is Vector for a tensor that may be absent (nil, nil).
func (w *Weights) OptVector(name string, n int) ([]float32, error) {
	if !w.Has(name) {
		return nil, nil
	}
	return w.Vector(name, n)
}
