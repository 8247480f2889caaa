package gguf

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// MaxTensorName is the longest tensor name, in bytes, that llama.cpp
// accepts (GGML_MAX_NAME - 1).
const MaxTensorName = 63

// Writer builds a GGUF v3 file. Metadata is written in the order it was
// added. Tensor offsets are computed from declared sizes, so tensor data can
// be streamed from a callback at write time instead of being held in memory.
type Writer struct {
	kv      []KeyValue
	keys    map[string]bool
	tensors []pendingTensor
	names   map[string]bool
}

type pendingTensor struct {
	info  TensorInfo
	data  []byte
	write func(io.Writer) error
}

// NewWriter returns an empty writer.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}}
}

// AddKV appends a metadata entry. v may be any Go type that maps to a GGUF
// type: uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32,
// float64, bool, string, slices of those, []Value for arrays of arrays, or a
// Value. Plain int and uint are refused; choose a width. general.alignment,
// if set, must be a uint32 power of two (at most MaxAlignment) and is used
// for the tensor layout. Arrays of arrays follow the GGUF specification but
// llama.cpp's loader refuses them; avoid them in files meant for llama.cpp.
func (w *Writer) AddKV(key string, v any) error {
	if w.keys[key] {
		return fmt.Errorf("gguf: metadata key %q added twice", key)
	}
	val, err := valueOf(v)
	if err != nil {
		return fmt.Errorf("gguf: metadata %q: %w", key, err)
	}
	if key == "general.alignment" {
		a, ok := val.Data.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 || a > MaxAlignment {
			return fmt.Errorf("gguf: metadata %q must be a uint32 power of two up to %d, got %T %v", key, MaxAlignment, val.Data, val.Data)
		}
	}
	w.keys[key] = true
	w.kv = append(w.kv, KeyValue{Key: key, Value: val})
	return nil
}

// AddTensor appends a tensor whose bytes are already in memory. The slice is
// kept until Write; it is not copied. shape is in ggml order (shape[0] is
// the row length).
func (w *Writer) AddTensor(name string, typ TensorType, shape []uint64, data []byte) error {
	info, err := w.declare(name, typ, shape)
	if err != nil {
		return err
	}
	if uint64(len(data)) != info.Size {
		return fmt.Errorf("gguf: tensor %q: %d bytes of data, %s %v needs %d", name, len(data), typ, shape, info.Size)
	}
	w.tensors = append(w.tensors, pendingTensor{info: info, data: data})
	return nil
}

// AddTensorFunc appends a tensor whose bytes are produced at write time by
// write, which must write exactly the tensor's size (TensorType.RowBytes of
// the row length times the other dimensions).
func (w *Writer) AddTensorFunc(name string, typ TensorType, shape []uint64, write func(io.Writer) error) error {
	info, err := w.declare(name, typ, shape)
	if err != nil {
		return err
	}
	if write == nil {
		return fmt.Errorf("gguf: tensor %q: nil write function", name)
	}
	w.tensors = append(w.tensors, pendingTensor{info: info, write: write})
	return nil
}

func (w *Writer) declare(name string, typ TensorType, shape []uint64) (TensorInfo, error) {
	if name == "" || len(name) > MaxTensorName {
		return TensorInfo{}, fmt.Errorf("gguf: tensor name %q must be 1 to %d bytes", name, MaxTensorName)
	}
	if w.names[name] {
		return TensorInfo{}, fmt.Errorf("gguf: tensor %q added twice", name)
	}
	if len(shape) > MaxDims {
		return TensorInfo{}, fmt.Errorf("gguf: tensor %q: %d dimensions, at most %d allowed", name, len(shape), MaxDims)
	}
	elems := uint64(1)
	for _, d := range shape {
		if d > math.MaxInt64 || (d != 0 && elems > math.MaxInt64/d) {
			return TensorInfo{}, fmt.Errorf("gguf: tensor %q: shape %v overflows", name, shape)
		}
		elems *= d
	}
	size, err := tensorSize(typ, shape)
	if err != nil {
		return TensorInfo{}, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	w.names[name] = true
	return TensorInfo{Name: name, Type: typ, Shape: append([]uint64(nil), shape...), Size: size}, nil
}

func (w *Writer) alignment() uint64 {
	for _, kv := range w.kv {
		if kv.Key == "general.alignment" {
			return uint64(kv.Value.Data.(uint32))
		}
	}
	return DefaultAlignment
}

// Write writes the file to out. It checks ctx between tensors.
func (w *Writer) Write(ctx context.Context, out io.Writer) error {
	align := w.alignment()
	var offset uint64
	for i := range w.tensors {
		w.tensors[i].info.Offset = offset
		offset = alignUp(offset+w.tensors[i].info.Size, align)
	}
	cw := &countingWriter{w: bufio.NewWriterSize(out, 1<<20)}
	e := encoder{w: cw}
	e.bytes([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kv)))
	for _, kv := range w.kv {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value)
	}
	for _, t := range w.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Shape)))
		for _, d := range t.info.Shape {
			e.u64(d)
		}
		e.u32(uint32(t.info.Type))
		e.u64(t.info.Offset)
	}
	if e.err != nil {
		return fmt.Errorf("gguf: write header: %w", e.err)
	}
	if err := cw.pad(align); err != nil {
		return fmt.Errorf("gguf: write header padding: %w", err)
	}
	for _, t := range w.tensors {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gguf: write tensor %q: %w", t.info.Name, err)
		}
		start := cw.n
		if t.data != nil || t.write == nil {
			_, err := cw.Write(t.data)
			if err != nil {
				return fmt.Errorf("gguf: write tensor %q: %w", t.info.Name, err)
			}
		} else if err := t.write(cw); err != nil {
			return fmt.Errorf("gguf: write tensor %q: %w", t.info.Name, err)
		}
		if got := cw.n - start; got != t.info.Size {
			return fmt.Errorf("gguf: write tensor %q: wrote %d bytes, declared size is %d", t.info.Name, got, t.info.Size)
		}
		if err := cw.pad(align); err != nil {
			return fmt.Errorf("gguf: write tensor %q padding: %w", t.info.Name, err)
		}
	}
	if err := cw.w.Flush(); err != nil {
		return fmt.Errorf("gguf: flush: %w", err)
	}
	return nil
}

// WriteFile writes w to path through a temporary file in the same
// directory, renamed into place only when complete.
func WriteFile(ctx context.Context, path string, w *Writer) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("gguf: create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = w.Write(ctx, tmp); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("gguf: close %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gguf: rename to %s: %w", path, err)
	}
	return nil
}

type countingWriter struct {
	w *bufio.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

var zeros [256]byte

func (c *countingWriter) pad(align uint64) error {
	for need := alignUp(c.n, align) - c.n; need > 0; {
		k := min(need, uint64(len(zeros)))
		if _, err := c.Write(zeros[:k]); err != nil {
			return err
		}
		need -= k
	}
	return nil
}

// encoder writes little-endian GGUF primitives, keeping the first error.
type encoder struct {
	w   io.Writer
	err error
	buf [8]byte
}

func (e *encoder) bytes(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u8(x uint8) { e.buf[0] = x; e.bytes(e.buf[:1]) }
func (e *encoder) u16(x uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], x)
	e.bytes(e.buf[:2])
}
func (e *encoder) u32(x uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], x)
	e.bytes(e.buf[:4])
}
func (e *encoder) u64(x uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], x)
	e.bytes(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.bytes([]byte(s))
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// value writes v's payload (not its type tag). v has been checked by
// valueOf, so Data matches Type.
func (e *encoder) value(v Value) {
	switch d := v.Data.(type) {
	case uint8:
		e.u8(d)
	case int8:
		e.u8(uint8(d))
	case bool:
		e.u8(boolByte(d))
	case uint16:
		e.u16(d)
	case int16:
		e.u16(uint16(d))
	case uint32:
		e.u32(d)
	case int32:
		e.u32(uint32(d))
	case float32:
		e.u32(math.Float32bits(d))
	case uint64:
		e.u64(d)
	case int64:
		e.u64(uint64(d))
	case float64:
		e.u64(math.Float64bits(d))
	case string:
		e.str(d)
	default:
		e.array(v)
	}
}

func (e *encoder) array(v Value) {
	e.u32(uint32(v.Elem))
	e.u64(uint64(v.Len()))
	switch d := v.Data.(type) {
	case []uint8:
		e.bytes(d)
	case []int8:
		for _, x := range d {
			e.u8(uint8(x))
		}
	case []bool:
		for _, x := range d {
			e.u8(boolByte(x))
		}
	case []uint16:
		for _, x := range d {
			e.u16(x)
		}
	case []int16:
		for _, x := range d {
			e.u16(uint16(x))
		}
	case []uint32:
		for _, x := range d {
			e.u32(x)
		}
	case []int32:
		for _, x := range d {
			e.u32(uint32(x))
		}
	case []float32:
		for _, x := range d {
			e.u32(math.Float32bits(x))
		}
	case []uint64:
		for _, x := range d {
			e.u64(x)
		}
	case []int64:
		for _, x := range d {
			e.u64(uint64(x))
		}
	case []float64:
		for _, x := range d {
			e.u64(math.Float64bits(x))
		}
	case []string:
		for _, x := range d {
			e.str(x)
		}
	case []Value:
		for _, x := range d {
			e.array(x)
		}
	default:
		if e.err == nil {
			e.err = fmt.Errorf("cannot encode %T", v.Data)
		}
	}
}
