package gguf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// MaxSafetensorsHeader is the largest JSON header the safetensors reader
// accepts (the reference implementation uses the same 100 MB limit).
const MaxSafetensorsHeader = 100 << 20

// Safetensors is a parsed safetensors file.
type Safetensors struct {
	Name     string
	Metadata map[string]string // the "__metadata__" entry, possibly empty
	Tensors  []SafeTensor      // in header order

	index   map[string]int
	offsets []uint64 // start of each tensor in the data section
	unmap   func() error
	closed  bool
}

// SafeTensor is one tensor of a safetensors file. Data aliases the file
// mapping for OpenSafetensors (read-only, valid until Close).
type SafeTensor struct {
	Name  string
	DType DType
	Shape []int // row-major, last dimension fastest (PyTorch order)
	Data  []byte
}

// Elements returns the number of elements of the tensor.
func (t *SafeTensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s converts an F32, F16, BF16 or F64 tensor to float32s.
func (t *SafeTensor) Float32s() ([]float32, error) {
	out, err := DecodeFloat32s(t.DType, t.Data)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// OpenSafetensors memory-maps and parses the safetensors file at path.
func OpenSafetensors(path string) (*Safetensors, error) {
	data, unmap, err := mapPath("safetensors", path)
	if err != nil {
		return nil, err
	}
	s, err := parseSafetensors(path, data)
	if err != nil {
		unmap()
		return nil, err
	}
	s.unmap = unmap
	return s, nil
}

// ReadSafetensors parses a safetensors file of the given size from r. The
// whole file is read into memory.
func ReadSafetensors(r io.ReaderAt, size int64) (*Safetensors, error) {
	const name = "<reader>"
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes is too small for the header length", name, size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: %s: read header length: %w", name, err)
	}
	if n := binary.LittleEndian.Uint64(lenBuf[:]); n > MaxSafetensorsHeader || n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: %s: header length %d exceeds the limit or the file size %d", name, n, size)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes is too large to load", name, size)
	}
	data := make([]byte, size)
	if n, err := r.ReadAt(data, 0); n < len(data) {
		return nil, fmt.Errorf("safetensors: %s: read: %w", name, err)
	}
	return parseSafetensors(name, data)
}

// Close releases the file mapping; tensor Data must not be used afterwards.
func (s *Safetensors) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for i := range s.Tensors {
		s.Tensors[i].Data = nil
	}
	if s.unmap != nil {
		if err := s.unmap(); err != nil {
			return fmt.Errorf("safetensors: unmap %s: %w", s.Name, err)
		}
	}
	return nil
}

// Tensor returns the named tensor.
func (s *Safetensors) Tensor(name string) (*SafeTensor, bool) {
	i, ok := s.index[name]
	if !ok {
		return nil, false
	}
	return &s.Tensors[i], true
}

// Float32s returns the named F32, F16, BF16 or F64 tensor as float32s.
func (s *Safetensors) Float32s(name string) ([]float32, error) {
	t, ok := s.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: no tensor %q", s.Name, name)
	}
	out, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", s.Name, err)
	}
	return out, nil
}

type safeHeaderEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

func parseSafetensors(name string, file []byte) (s *Safetensors, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("safetensors: %s: internal error while parsing: %v", name, p)
		}
	}()
	s, err = parseSafetensorsHeader(name, file)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", name, err)
	}
	return s, nil
}

func parseSafetensorsHeader(name string, file []byte) (*Safetensors, error) {
	if len(file) < 8 {
		return nil, fmt.Errorf("file of %d bytes is too small for the header length", len(file))
	}
	n := binary.LittleEndian.Uint64(file)
	if n > MaxSafetensorsHeader {
		return nil, fmt.Errorf("header length %d exceeds the %d byte limit", n, MaxSafetensorsHeader)
	}
	if n > uint64(len(file)-8) {
		return nil, fmt.Errorf("header length %d runs past the end of the %d byte file", n, len(file))
	}
	header := file[8 : 8+n]
	data := file[8+n:]
	if len(bytes.TrimLeft(header, " \t\r\n")) == 0 || bytes.TrimLeft(header, " \t\r\n")[0] != '{' {
		return nil, errors.New("header is not a JSON object")
	}
	s := &Safetensors{Name: name, Metadata: map[string]string{}, index: map[string]int{}}
	dec := json.NewDecoder(bytes.NewReader(header))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	sawMetadata := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("header JSON: unexpected %v", tok)
		}
		if key == "__metadata__" {
			if sawMetadata {
				return nil, errors.New("header has two __metadata__ entries")
			}
			sawMetadata = true
			var md map[string]string
			if err := dec.Decode(&md); err != nil {
				return nil, fmt.Errorf("__metadata__ must map strings to strings: %w", err)
			}
			for k, v := range md {
				s.Metadata[k] = v
			}
			continue
		}
		if _, dup := s.index[key]; dup {
			return nil, fmt.Errorf("tensor %q appears twice", key)
		}
		var e safeHeaderEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("tensor %q: header entry: %w", key, err)
		}
		t, err := safeTensorFromHeader(key, e, data)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", key, err)
		}
		s.index[key] = len(s.Tensors)
		s.Tensors = append(s.Tensors, t)
		s.offsets = append(s.offsets, e.DataOffsets[0])
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if len(bytes.TrimSpace(header[dec.InputOffset():])) != 0 {
		return nil, errors.New("header JSON: trailing data after the object")
	}
	return s, s.checkOverlap()
}

func safeTensorFromHeader(name string, e safeHeaderEntry, data []byte) (SafeTensor, error) {
	size := e.DType.Size()
	if size == 0 {
		return SafeTensor{}, fmt.Errorf("unknown dtype %q", e.DType)
	}
	if e.Shape == nil {
		return SafeTensor{}, errors.New("missing shape")
	}
	if len(e.DataOffsets) != 2 {
		return SafeTensor{}, fmt.Errorf("data_offsets has %d values, want 2", len(e.DataOffsets))
	}
	shape := make([]int, len(e.Shape))
	bytesNeeded := uint64(size)
	for i, d := range e.Shape {
		if d < 0 {
			return SafeTensor{}, fmt.Errorf("negative dimension %d in shape %v", d, e.Shape)
		}
		if d != 0 && bytesNeeded > math.MaxInt64/uint64(d) {
			return SafeTensor{}, fmt.Errorf("shape %v overflows", e.Shape)
		}
		bytesNeeded *= uint64(d)
		shape[i] = int(d)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin > end {
		return SafeTensor{}, fmt.Errorf("data_offsets [%d, %d] are reversed", begin, end)
	}
	if end > uint64(len(data)) {
		return SafeTensor{}, fmt.Errorf("data ends at %d past the %d byte data section (truncated file?)", end, len(data))
	}
	if end-begin != bytesNeeded {
		return SafeTensor{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, %s %v needs %d", begin, end, end-begin, e.DType, e.Shape, bytesNeeded)
	}
	return SafeTensor{Name: name, DType: e.DType, Shape: shape, Data: data[begin:end:end]}, nil
}

func (s *Safetensors) checkOverlap() error {
	type span struct {
		begin, end uint64
		name       string
	}
	spans := make([]span, 0, len(s.Tensors))
	for i, t := range s.Tensors {
		if len(t.Data) == 0 {
			continue
		}
		spans = append(spans, span{s.offsets[i], s.offsets[i] + uint64(len(t.Data)), t.Name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return fmt.Errorf("tensor %q overlaps tensor %q", spans[i-1].name, spans[i].name)
		}
	}
	return nil
}

// WriteSafetensors writes tensors, in the given order, and metadata as a
// safetensors file. The header is padded with spaces to a multiple of 8
// bytes so the data section is aligned.
func WriteSafetensors(w io.Writer, tensors []SafeTensor, metadata map[string]string) error {
	var hdr strings.Builder
	hdr.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		md, err := json.Marshal(metadata) // map keys are sorted
		if err != nil {
			return fmt.Errorf("safetensors: encode metadata: %w", err)
		}
		sep()
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(md)
	}
	seen := map[string]bool{}
	var offset uint64
	for _, t := range tensors {
		if t.Name == "__metadata__" || seen[t.Name] {
			return fmt.Errorf("safetensors: tensor name %q is reserved or repeated", t.Name)
		}
		seen[t.Name] = true
		size := t.DType.Size()
		if size == 0 {
			return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		want := uint64(size)
		for _, d := range t.Shape {
			if d < 0 || (d != 0 && want > math.MaxInt64/uint64(d)) {
				return fmt.Errorf("safetensors: tensor %q: invalid shape %v", t.Name, t.Shape)
			}
			want *= uint64(d)
		}
		if uint64(len(t.Data)) != want {
			return fmt.Errorf("safetensors: tensor %q: %d bytes of data, %s %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, want)
		}
		name, _ := json.Marshal(t.Name)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		shapeJSON, _ := json.Marshal(shape)
		sep()
		fmt.Fprintf(&hdr, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, t.DType, shapeJSON, offset, offset+want)
		offset += want
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hdr.Len()))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: write header: %w", err)
	}
	if _, err := io.WriteString(w, hdr.String()); err != nil {
		return fmt.Errorf("safetensors: write header: %w", err)
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: write tensor %q: %w", t.Name, err)
		}
	}
	return nil
}
