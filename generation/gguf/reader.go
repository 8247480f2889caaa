package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"unsafe"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the tensor data alignment used when general.alignment
// is absent.
const DefaultAlignment = 32

// MaxAlignment is the largest general.alignment accepted. The format sets
// no limit; real files use 32 or 64, and a huge value would make a writer
// emit gigabytes of padding.
const MaxAlignment = 1 << 16

// MaxDims is the largest number of dimensions a GGUF tensor may have (ggml's
// GGML_MAX_DIMS).
const MaxDims = 4

// File is a parsed GGUF file. Metadata and tensor infos are decoded eagerly;
// tensor data stays in the file (memory-mapped by Open) until asked for.
type File struct {
	Name       string // path given to Open, or "<reader>"
	Version    uint32
	Alignment  uint64
	KV         []KeyValue   // metadata in file order
	Tensors    []TensorInfo // tensor infos in file order
	DataOffset uint64       // absolute file offset of the tensor data section
	Size       int64        // file size in bytes

	kvIndex     map[string]int
	tensorIndex map[string]int
	data        []byte      // whole file when mapped or held in memory
	ra          io.ReaderAt // used when data is nil
	unmap       func() error
	mapped      bool // data is a shared, read-only mapping of the file
	closed      bool
}

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name string
	Type TensorType
	// Shape lists dimensions in ggml order: Shape[0] is the row length
	// (the fastest-varying dimension).
	Shape []uint64
	// Offset is relative to the start of the tensor data section.
	Offset uint64
	// Size is the tensor's data size in bytes.
	Size uint64
}

// Elements returns the number of elements in the tensor.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Open memory-maps the GGUF file at path and parses its header. Tensor data
// returned by TensorData aliases the mapping and is valid until Close.
func Open(path string) (*File, error) {
	data, unmap, err := mapPath("gguf", path)
	if err != nil {
		return nil, err
	}
	f, err := parse(path, nil, data, int64(len(data)))
	if err != nil {
		unmap()
		return nil, err
	}
	f.data = data
	f.unmap = unmap
	f.mapped = mapsFiles
	return f, nil
}

// mapPath opens path and maps the whole file read-only (see mapFile);
// format names the kind of file in errors.
func mapPath(format, path string) ([]byte, func() error, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: open %s: %w", format, path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: stat %s: %w", format, path, err)
	}
	data, unmap, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: map %s: %w", format, path, err)
	}
	return data, unmap, nil
}

// Read parses a GGUF file of the given size from r. TensorData then reads
// tensor bytes from r on each call.
func Read(r io.ReaderAt, size int64) (*File, error) {
	f, err := parse("<reader>", r, nil, size)
	if err != nil {
		return nil, err
	}
	f.ra = r
	return f, nil
}

// Release tells the system that this process will not read data, tensor
// bytes returned by TensorData, again soon: the mapped pages wholly inside
// it leave the process's resident memory (the page cache keeps them, and a
// later read faults them back in, so data stays valid). A loader calls it
// after copying a tensor into another layout, so that the copy does not
// count twice. It does nothing where the file is not memory-mapped.
func (f *File) Release(data []byte) {
	if !f.mapped || f.closed || len(data) == 0 || len(f.data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if p < base || p+uintptr(len(data)) > base+uintptr(len(f.data)) {
		return // not this file's bytes
	}
	releasePages(data)
}

// Close releases the file mapping. Slices returned by TensorData must not
// be used afterwards.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		if err := f.unmap(); err != nil {
			return fmt.Errorf("gguf: unmap %s: %w", f.Name, err)
		}
	}
	return nil
}

// Get returns the metadata value stored under key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.Data.(string)
	return s, ok
}

// Uint returns a non-negative integer value of any integer type.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Uint()
}

// Int returns an integer value of any integer type that fits in int64.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Int()
}

// Float returns a float value; integer values are converted.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Float()
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.Get(key)
	if !ok {
		return false, false
	}
	b, ok := v.Data.(bool)
	return b, ok
}

// Strings returns an array of strings (e.g. tokenizer.ggml.tokens).
func (f *File) Strings(key string) ([]string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	s, ok := v.Data.([]string)
	return s, ok
}

// Ints returns an array of any integer type as int64s
// (e.g. tokenizer.ggml.token_type).
func (f *File) Ints(key string) ([]int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Ints()
}

// Floats returns an array of float32 or float64 as float32s
// (e.g. tokenizer.ggml.scores).
func (f *File) Floats(key string) ([]float32, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Floats()
}

// Architecture returns general.architecture, or "" if absent.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of tensor t. For files from Open the slice
// aliases the read-only mapping: do not write to it, and do not use it after
// Close. For files from Read the bytes are read into a new slice.
func (f *File) TensorData(t *TensorInfo) ([]byte, error) {
	if f.closed {
		return nil, fmt.Errorf("gguf: %s: tensor %q: file is closed", f.Name, t.Name)
	}
	start, end, err := f.tensorBounds(t)
	if err != nil {
		return nil, err
	}
	if f.data != nil {
		return f.data[start:end:end], nil
	}
	buf := make([]byte, end-start)
	if len(buf) == 0 {
		return buf, nil
	}
	// A ReaderAt may report io.EOF along with a complete read at the end.
	if n, err := f.ra.ReadAt(buf, int64(start)); n < len(buf) {
		return nil, fmt.Errorf("gguf: %s: tensor %q: read data: %w", f.Name, t.Name, err)
	}
	return buf, nil
}

func (f *File) tensorBounds(t *TensorInfo) (start, end uint64, err error) {
	start = f.DataOffset + t.Offset
	end = start + t.Size
	if start < f.DataOffset || end < start || end > uint64(f.Size) {
		return 0, 0, fmt.Errorf("gguf: %s: tensor %q: data ends at %d past file size %d", f.Name, t.Name, end, f.Size)
	}
	return start, end, nil
}

// Summary returns a short human-readable description of the file: version,
// architecture, counts, and bytes per tensor type.
func (f *File) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: GGUF v%d, architecture %q, %d metadata keys, %d tensors, alignment %d\n",
		f.Name, f.Version, f.Architecture(), len(f.KV), len(f.Tensors), f.Alignment)
	type agg struct{ count, elems, bytes uint64 }
	byType := map[TensorType]*agg{}
	var total agg
	for i := range f.Tensors {
		t := &f.Tensors[i]
		a := byType[t.Type]
		if a == nil {
			a = &agg{}
			byType[t.Type] = a
		}
		a.count++
		a.elems += t.Elements()
		a.bytes += t.Size
		total.elems += t.Elements()
		total.bytes += t.Size
	}
	types := make([]TensorType, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	for _, t := range types {
		a := byType[t]
		fmt.Fprintf(&b, "  %-8s %5d tensors %14d elements %14d bytes\n", t, a.count, a.elems, a.bytes)
	}
	fmt.Fprintf(&b, "  total    %5d tensors %14d elements %14d bytes", len(f.Tensors), total.elems, total.bytes)
	return b.String()
}

// decoder reads the sequential header with explicit bounds against size.
type decoder struct {
	mem  []byte        // the whole file, when it is in memory
	r    *bufio.Reader // otherwise a buffered reader from offset 0
	pos  uint64
	size uint64
	buf  [8]byte
}

var errTruncated = errors.New("unexpected end of file")

func (d *decoder) remaining() uint64 {
	if d.pos >= d.size {
		return 0
	}
	return d.size - d.pos
}

func (d *decoder) read(p []byte) error {
	if uint64(len(p)) > d.remaining() {
		return fmt.Errorf("at offset %d: need %d bytes, %d left: %w", d.pos, len(p), d.remaining(), errTruncated)
	}
	if d.mem != nil {
		copy(p, d.mem[d.pos:])
		d.pos += uint64(len(p))
		return nil
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		return fmt.Errorf("at offset %d: %w", d.pos, err)
	}
	d.pos += uint64(len(p))
	return nil
}

func (d *decoder) u8() (uint8, error) {
	err := d.read(d.buf[:1])
	return d.buf[0], err
}

func (d *decoder) u16() (uint16, error) {
	err := d.read(d.buf[:2])
	return binary.LittleEndian.Uint16(d.buf[:2]), err
}

func (d *decoder) u32() (uint32, error) {
	err := d.read(d.buf[:4])
	return binary.LittleEndian.Uint32(d.buf[:4]), err
}

func (d *decoder) u64() (uint64, error) {
	err := d.read(d.buf[:8])
	return binary.LittleEndian.Uint64(d.buf[:8]), err
}

func (d *decoder) str() (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", fmt.Errorf("string length: %w", err)
	}
	if n > d.remaining() {
		return "", fmt.Errorf("string of %d bytes at offset %d runs past end of file (%d bytes left)", n, d.pos, d.remaining())
	}
	if d.mem != nil {
		s := string(d.mem[d.pos : d.pos+n])
		d.pos += n
		return s, nil
	}
	p := make([]byte, n)
	if err := d.read(p); err != nil {
		return "", err
	}
	return string(p), nil
}

// count reads an array or section count and bounds it by what the rest of
// the file could hold at minSize bytes per item.
func (d *decoder) count(what string, minSize uint64) (int, error) {
	n, err := d.u64()
	if err != nil {
		return 0, fmt.Errorf("%s count: %w", what, err)
	}
	if minSize > 0 && n > d.remaining()/minSize {
		return 0, fmt.Errorf("%s count %d is impossible: only %d bytes left in file", what, n, d.remaining())
	}
	return int(n), nil
}

func parse(name string, r io.ReaderAt, mem []byte, size int64) (f *File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("gguf: %s: internal error while parsing: %v", name, p)
		}
	}()
	if size < 0 {
		return nil, fmt.Errorf("gguf: %s: negative size %d", name, size)
	}
	f = &File{Name: name, Size: size, Alignment: DefaultAlignment}
	if err := f.parseHeader(r, mem); err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", name, err)
	}
	return f, nil
}

// parseHeader decodes the header from mem when the file is in memory (its
// length must equal f.Size), else from r.
func (f *File) parseHeader(r io.ReaderAt, mem []byte) error {
	d := &decoder{size: uint64(f.Size), mem: mem}
	if mem == nil {
		d.r = bufio.NewReaderSize(io.NewSectionReader(r, 0, f.Size), 1<<16)
	}
	var magic [4]byte
	if err := d.read(magic[:]); err != nil {
		return fmt.Errorf("magic: %w", err)
	}
	if string(magic[:]) != Magic {
		return fmt.Errorf("bad magic %q: not a GGUF file", magic[:])
	}
	version, err := d.u32()
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return fmt.Errorf("GGUF version 1 is not supported (convert the model to GGUF v3)")
	case version&0xFFFF == 0 && version>>16 != 0:
		return fmt.Errorf("GGUF version %#x looks big-endian; only little-endian files are supported", version)
	default:
		return fmt.Errorf("unsupported GGUF version %d (2 and 3 are supported)", version)
	}
	f.Version = version
	// Minimum tensor info: name length (8), n_dims (4), type (4), offset (8).
	nTensors, err := d.count("tensor", 24)
	if err != nil {
		return err
	}
	// Minimum KV: key length (8), value type (4), one-byte value.
	nKV, err := d.count("metadata", 13)
	if err != nil {
		return err
	}
	// Counts are bounded by the file size; preallocation is bounded further
	// so a corrupt count in a large model file cannot demand a huge
	// allocation before the entries fail to parse.
	f.KV = make([]KeyValue, 0, min(nKV, preallocLimit))
	f.kvIndex = make(map[string]int, min(nKV, preallocLimit))
	for i := 0; i < nKV; i++ {
		key, err := d.str()
		if err != nil {
			return fmt.Errorf("metadata entry %d: key: %w", i, err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return fmt.Errorf("metadata key %q appears twice", key)
		}
		t, err := d.u32()
		if err != nil {
			return fmt.Errorf("metadata %q: type: %w", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KeyValue{Key: key, Value: v})
	}
	if v, ok := f.Get("general.alignment"); ok {
		a, ok := v.Uint()
		if !ok || a == 0 || a&(a-1) != 0 || a > MaxAlignment {
			return fmt.Errorf("metadata %q: alignment %v must be a power of two up to %d", "general.alignment", v.Data, MaxAlignment)
		}
		f.Alignment = a
	}

	f.Tensors = make([]TensorInfo, 0, min(nTensors, preallocLimit))
	f.tensorIndex = make(map[string]int, min(nTensors, preallocLimit))
	for i := 0; i < nTensors; i++ {
		t, err := d.tensorInfo()
		if err != nil {
			if t.Name != "" {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			return fmt.Errorf("tensor info %d: %w", i, err)
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return fmt.Errorf("tensor %q appears twice", t.Name)
		}
		f.tensorIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	f.DataOffset = alignUp(d.pos, f.Alignment)
	return f.checkLayout()
}

// checkLayout verifies tensor offsets: aligned, inside the file, and not
// overlapping one another.
func (f *File) checkLayout() error {
	order := make([]int, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d", t.Name, t.Offset, f.Alignment)
		}
		start := f.DataOffset + t.Offset
		end := start + t.Size
		if start < f.DataOffset || end < start || end > uint64(f.Size) {
			if start < f.DataOffset || end < start {
				return fmt.Errorf("tensor %q: offset %d overflows", t.Name, t.Offset)
			}
			return fmt.Errorf("tensor %q: data ends at %d past file size %d (truncated file?)", t.Name, end, f.Size)
		}
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	var prev *TensorInfo // the non-empty tensor reaching furthest so far
	for _, i := range order {
		cur := &f.Tensors[i]
		if cur.Size == 0 {
			continue
		}
		if prev != nil && prev.Offset+prev.Size > cur.Offset {
			return fmt.Errorf("tensor %q (offset %d, %d bytes) overlaps tensor %q at offset %d", prev.Name, prev.Offset, prev.Size, cur.Name, cur.Offset)
		}
		prev = cur
	}
	return nil
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	var t TensorInfo
	name, err := d.str()
	if err != nil {
		return t, fmt.Errorf("name: %w", err)
	}
	t.Name = name
	nDims, err := d.u32()
	if err != nil {
		return t, fmt.Errorf("dimension count: %w", err)
	}
	if nDims > MaxDims {
		return t, fmt.Errorf("%d dimensions, at most %d allowed", nDims, MaxDims)
	}
	t.Shape = make([]uint64, nDims)
	elems := uint64(1)
	for j := range t.Shape {
		if t.Shape[j], err = d.u64(); err != nil {
			return t, fmt.Errorf("dimension %d: %w", j, err)
		}
		if t.Shape[j] > math.MaxInt64 {
			return t, fmt.Errorf("dimension %d is %d, too large", j, t.Shape[j])
		}
		if t.Shape[j] != 0 && elems > math.MaxInt64/t.Shape[j] {
			return t, fmt.Errorf("shape %v overflows the element count", t.Shape)
		}
		elems *= t.Shape[j]
	}
	typ, err := d.u32()
	if err != nil {
		return t, fmt.Errorf("type: %w", err)
	}
	t.Type = TensorType(typ)
	if t.Offset, err = d.u64(); err != nil {
		return t, fmt.Errorf("offset: %w", err)
	}
	size, err := tensorSize(t.Type, t.Shape)
	if err != nil {
		return t, err
	}
	t.Size = size
	return t, nil
}

// tensorSize returns the data size of a tensor, checking the type and that
// rows are whole blocks.
func tensorSize(typ TensorType, shape []uint64) (uint64, error) {
	tr, ok := tensorTypes[typ]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(typ))
	}
	row := uint64(1)
	if len(shape) > 0 {
		row = shape[0]
	}
	if row%tr.blockSize != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of the %s block size %d", row, tr.name, tr.blockSize)
	}
	size := row / tr.blockSize * tr.blockBytes
	for _, dim := range shape[min(1, len(shape)):] {
		if dim != 0 && size > math.MaxInt64/dim {
			return 0, fmt.Errorf("shape %v: byte size overflows", shape)
		}
		size *= dim
	}
	return size, nil
}

func (d *decoder) value(t ValueType, depth int) (Value, error) {
	switch t {
	case ValueUint8:
		x, err := d.u8()
		return Value{Type: t, Data: x}, err
	case ValueInt8:
		x, err := d.u8()
		return Value{Type: t, Data: int8(x)}, err
	case ValueBool:
		x, err := d.u8()
		return Value{Type: t, Data: x != 0}, err
	case ValueUint16:
		x, err := d.u16()
		return Value{Type: t, Data: x}, err
	case ValueInt16:
		x, err := d.u16()
		return Value{Type: t, Data: int16(x)}, err
	case ValueUint32:
		x, err := d.u32()
		return Value{Type: t, Data: x}, err
	case ValueInt32:
		x, err := d.u32()
		return Value{Type: t, Data: int32(x)}, err
	case ValueFloat32:
		x, err := d.u32()
		return Value{Type: t, Data: math.Float32frombits(x)}, err
	case ValueUint64:
		x, err := d.u64()
		return Value{Type: t, Data: x}, err
	case ValueInt64:
		x, err := d.u64()
		return Value{Type: t, Data: int64(x)}, err
	case ValueFloat64:
		x, err := d.u64()
		return Value{Type: t, Data: math.Float64frombits(x)}, err
	case ValueString:
		s, err := d.str()
		return Value{Type: t, Data: s}, err
	case ValueArray:
		if depth >= maxNesting {
			return Value{}, fmt.Errorf("arrays nested deeper than %d", maxNesting)
		}
		et, err := d.u32()
		if err != nil {
			return Value{}, fmt.Errorf("array element type: %w", err)
		}
		return d.array(ValueType(et), depth)
	}
	return Value{}, fmt.Errorf("unknown value type %d", uint32(t))
}

func (d *decoder) array(et ValueType, depth int) (Value, error) {
	minSize := uint64(et.scalarSize())
	switch et {
	case ValueString:
		minSize = 8
	case ValueArray:
		minSize = 12
	}
	if minSize == 0 {
		return Value{}, fmt.Errorf("array of unknown value type %d", uint32(et))
	}
	n, err := d.count("array", minSize)
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: ValueArray, Elem: et}
	switch et {
	case ValueString:
		out := make([]string, 0, min(n, preallocLimit))
		for i := 0; i < n; i++ {
			s, err := d.str()
			if err != nil {
				return Value{}, fmt.Errorf("array element %d: %w", i, err)
			}
			out = append(out, s)
		}
		v.Data = out
		return v, nil
	case ValueArray:
		out := make([]Value, 0, min(n, preallocLimit))
		for i := 0; i < n; i++ {
			e, err := d.value(ValueArray, depth+1)
			if err != nil {
				return Value{}, fmt.Errorf("array element %d: %w", i, err)
			}
			out = append(out, e)
		}
		v.Data = out
		return v, nil
	}
	raw := make([]byte, uint64(n)*minSize)
	if err := d.read(raw); err != nil {
		return Value{}, fmt.Errorf("array of %d %s: %w", n, et, err)
	}
	switch et {
	case ValueUint8:
		v.Data = raw
	case ValueInt8:
		v.Data = convertSlice(raw, func(x byte) int8 { return int8(x) })
	case ValueBool:
		v.Data = convertSlice(raw, func(x byte) bool { return x != 0 })
	case ValueUint16:
		v.Data, err = decodeLE[uint16](raw, n)
	case ValueInt16:
		v.Data, err = decodeLE[int16](raw, n)
	case ValueUint32:
		v.Data, err = decodeLE[uint32](raw, n)
	case ValueInt32:
		v.Data, err = decodeLE[int32](raw, n)
	case ValueFloat32:
		v.Data, err = decodeLE[float32](raw, n)
	case ValueUint64:
		v.Data, err = decodeLE[uint64](raw, n)
	case ValueInt64:
		v.Data, err = decodeLE[int64](raw, n)
	case ValueFloat64:
		v.Data, err = decodeLE[float64](raw, n)
	}
	if err != nil {
		return Value{}, fmt.Errorf("array of %d %s: %w", n, et, err)
	}
	return v, nil
}

// decodeLE decodes n little-endian values of a fixed-size number type from
// raw, which holds exactly n of them.
func decodeLE[T uint16 | int16 | uint32 | int32 | float32 | uint64 | int64 | float64](raw []byte, n int) (any, error) {
	out := make([]T, n)
	if _, err := binary.Decode(raw, binary.LittleEndian, out); err != nil {
		return nil, fmt.Errorf("decode %d values from %d bytes: %w", n, len(raw), err)
	}
	return out, nil
}

// preallocLimit caps slice capacity taken from counts read from a file.
const preallocLimit = 1 << 16

func alignUp(x, a uint64) uint64 {
	if r := x % a; r != 0 {
		return x + a - r
	}
	return x
}
