package gguf

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawFile lays out a GGUF file field by field, without the Writer's checks,
// so tests can produce every kind of malformed file.
type rawFile struct {
	magic     string
	version   uint32
	nTensors  *uint64 // overrides len(tensors)
	nKV       *uint64 // overrides len(kvs)
	kvs       []func(b *bytes.Buffer)
	tensors   []rawTensor
	dataBytes int // bytes of tensor data after the aligned header
	alignment uint64
}

type rawTensor struct {
	name   string
	dims   []uint64
	nDims  *uint32
	typ    TensorType
	offset uint64
}

func le(b *bytes.Buffer, v any) { binary.Write(b, binary.LittleEndian, v) }

func rawStr(b *bytes.Buffer, s string) {
	le(b, uint64(len(s)))
	b.WriteString(s)
}

func kvString(key, val string) func(*bytes.Buffer) {
	return func(b *bytes.Buffer) {
		rawStr(b, key)
		le(b, uint32(ValueString))
		rawStr(b, val)
	}
}

func kvU32(key string, val uint32) func(*bytes.Buffer) {
	return func(b *bytes.Buffer) {
		rawStr(b, key)
		le(b, uint32(ValueUint32))
		le(b, val)
	}
}

func (r rawFile) bytes() []byte {
	var b bytes.Buffer
	magic := r.magic
	if magic == "" {
		magic = "GGUF"
	}
	b.WriteString(magic)
	version := r.version
	if version == 0 {
		version = 3
	}
	le(&b, version)
	nt, nk := uint64(len(r.tensors)), uint64(len(r.kvs))
	if r.nTensors != nil {
		nt = *r.nTensors
	}
	if r.nKV != nil {
		nk = *r.nKV
	}
	le(&b, nt)
	le(&b, nk)
	for _, kv := range r.kvs {
		kv(&b)
	}
	for _, t := range r.tensors {
		rawStr(&b, t.name)
		n := uint32(len(t.dims))
		if t.nDims != nil {
			n = *t.nDims
		}
		le(&b, n)
		for _, d := range t.dims {
			le(&b, d)
		}
		le(&b, uint32(t.typ))
		le(&b, t.offset)
	}
	align := r.alignment
	if align == 0 {
		align = DefaultAlignment
	}
	for uint64(b.Len())%align != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, r.dataBytes))
	return b.Bytes()
}

func u64p(x uint64) *uint64 { return &x }
func u32p(x uint32) *uint32 { return &x }

func TestReadRejects(t *testing.T) {
	f32 := func(name string, n, off uint64) rawTensor {
		return rawTensor{name: name, dims: []uint64{n}, typ: TypeF32, offset: off}
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "magic: "},
		{"bad magic", rawFile{magic: "GGML"}.bytes(), `bad magic "GGML"`},
		{"version 1", rawFile{version: 1}.bytes(), "version 1 is not supported"},
		{"version 4", rawFile{version: 4}.bytes(), "unsupported GGUF version 4"},
		{"big endian", rawFile{version: 3 << 24}.bytes(), "big-endian"},
		{"truncated header", rawFile{}.bytes()[:12], "tensor count"},
		{"absurd tensor count", rawFile{nTensors: u64p(1 << 40)}.bytes(), "tensor count 1099511627776 is impossible"},
		{"absurd kv count", rawFile{nKV: u64p(1 << 62)}.bytes(), "metadata count 4611686018427387904 is impossible"},
		{"kv truncated", rawFile{kvs: []func(*bytes.Buffer){kvString("general.name", "a long enough name")}}.bytes()[:60], `metadata "general.name": string of 18 bytes`},
		{"string past EOF", rawFile{kvs: []func(*bytes.Buffer){func(b *bytes.Buffer) {
			rawStr(b, "general.name")
			le(b, uint32(ValueString))
			le(b, uint64(1000))
			b.WriteString("short")
		}}}.bytes(), `metadata "general.name": string of 1000 bytes`},
		{"key length past EOF", rawFile{kvs: []func(*bytes.Buffer){func(b *bytes.Buffer) {
			le(b, uint64(1)<<63)
			b.Write(make([]byte, 16))
		}}}.bytes(), "metadata entry 0: key: string of 9223372036854775808 bytes"},
		{"unknown value type", rawFile{kvs: []func(*bytes.Buffer){func(b *bytes.Buffer) {
			rawStr(b, "k")
			le(b, uint32(13))
			le(b, uint64(0))
		}}}.bytes(), `metadata "k": unknown value type 13`},
		{"unknown array element type", rawFile{kvs: []func(*bytes.Buffer){func(b *bytes.Buffer) {
			rawStr(b, "k")
			le(b, uint32(ValueArray))
			le(b, uint32(77))
			le(b, uint64(0))
		}}}.bytes(), "array of unknown value type 77"},
		{"absurd array length", rawFile{kvs: []func(*bytes.Buffer){func(b *bytes.Buffer) {
			rawStr(b, "tokenizer.ggml.tokens")
			le(b, uint32(ValueArray))
			le(b, uint32(ValueString))
			le(b, uint64(1)<<40)
		}}}.bytes(), "array count 1099511627776 is impossible"},
		{"deep nesting", rawFile{kvs: []func(*bytes.Buffer){func(b *bytes.Buffer) {
			rawStr(b, "k")
			le(b, uint32(ValueArray))
			for i := 0; i < 20; i++ {
				le(b, uint32(ValueArray))
				le(b, uint64(1))
			}
			b.Write(make([]byte, 64))
		}}}.bytes(), "nested deeper"},
		{"duplicate key", rawFile{kvs: []func(*bytes.Buffer){kvString("a", "1"), kvString("a", "2")}}.bytes(), `metadata key "a" appears twice`},
		{"bad alignment", rawFile{kvs: []func(*bytes.Buffer){kvU32("general.alignment", 48)}}.bytes(), "must be a power of two"},
		{"huge alignment", rawFile{kvs: []func(*bytes.Buffer){kvU32("general.alignment", 1<<20)}}.bytes(), "must be a power of two up to 65536"},
		{"unknown tensor type", rawFile{tensors: []rawTensor{{name: "w", dims: []uint64{4}, typ: 4}}, dataBytes: 64}.bytes(), `tensor "w": unknown tensor type 4`},
		{"too many dims", rawFile{tensors: []rawTensor{{name: "w", dims: []uint64{1, 1, 1, 1, 1}}}}.bytes(), `tensor "w": 5 dimensions`},
		{"huge dim count", rawFile{tensors: []rawTensor{{name: "w", nDims: u32p(1 << 31)}}}.bytes(), `tensor "w": 2147483648 dimensions`},
		{"dims overflow", rawFile{tensors: []rawTensor{{name: "w", dims: []uint64{1 << 32, 1 << 32}, typ: TypeI8}}}.bytes(), "overflows"},
		{"bytes overflow", rawFile{tensors: []rawTensor{{name: "w", dims: []uint64{1 << 31, 1 << 31}, typ: TypeF64}}}.bytes(), "byte size overflows"},
		{"dim too large", rawFile{tensors: []rawTensor{{name: "w", dims: []uint64{1 << 63}, typ: TypeI8}}}.bytes(), "too large"},
		{"row not block multiple", rawFile{tensors: []rawTensor{{name: "blk.0.attn_q.weight", dims: []uint64{100, 2}, typ: TypeQ4_K}}, dataBytes: 4096}.bytes(),
			`tensor "blk.0.attn_q.weight": row length 100 is not a multiple of the Q4_K block size 256`},
		{"truncated data", rawFile{tensors: []rawTensor{f32("blk.0.attn_q.weight", 64, 0)}, dataBytes: 100}.bytes(),
			`tensor "blk.0.attn_q.weight": data ends at 352 past file size 196 (truncated file?)`},
		{"misaligned offset", rawFile{tensors: []rawTensor{f32("w", 4, 4)}, dataBytes: 64}.bytes(), `tensor "w": offset 4 is not a multiple of the alignment 32`},
		{"offset overflow", rawFile{tensors: []rawTensor{f32("w", 4, 1<<63+1<<62)}, dataBytes: 64}.bytes(), "past file size"},
		{"overlap", rawFile{tensors: []rawTensor{f32("a", 16, 0), f32("b", 8, 32)}, dataBytes: 128}.bytes(), `tensor "a" (offset 0, 64 bytes) overlaps tensor "b" at offset 32`},
		{"overlap across empty tensor", rawFile{tensors: []rawTensor{f32("a", 32, 0), f32("z", 0, 32), f32("b", 8, 64)}, dataBytes: 256}.bytes(), `tensor "a" (offset 0, 128 bytes) overlaps tensor "b"`},
		{"duplicate tensor", rawFile{tensors: []rawTensor{f32("a", 8, 0), f32("a", 8, 32)}, dataBytes: 64}.bytes(), `tensor "a" appears twice`},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		path := filepath.Join(dir, "model.gguf")
		if err := os.WriteFile(path, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err == nil {
			f.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "gguf: "+path+": ") {
			t.Errorf("%s: error %q, want prefix %q and %q", tc.name, err, "gguf: "+path+": ", tc.want)
		}
		if _, err := Read(bytes.NewReader(tc.file), int64(len(tc.file))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Read error %v", tc.name, err)
		}
	}
}

func TestReadAcceptsVersion2AndLayouts(t *testing.T) {
	// Version 2 shares the v3 layout; tensors may be stored out of order and
	// with gaps; an empty tensor may share an offset with another.
	file := rawFile{version: 2, kvs: []func(*bytes.Buffer){kvU32("general.alignment", 64), kvString("general.architecture", "llama")},
		tensors: []rawTensor{
			{name: "late", dims: []uint64{4}, typ: TypeF32, offset: 128},
			{name: "early", dims: []uint64{32, 1}, typ: TypeQ8_0, offset: 0},
			{name: "empty", dims: []uint64{0}, typ: TypeF32, offset: 0},
		}, dataBytes: 144, alignment: 64}.bytes()
	f, err := Read(bytes.NewReader(file), int64(len(file)))
	must(t, err)
	if f.Version != 2 || f.Alignment != 64 || f.Architecture() != "llama" || len(f.Tensors) != 3 {
		t.Fatalf("got version %d alignment %d arch %q tensors %d", f.Version, f.Alignment, f.Architecture(), len(f.Tensors))
	}
	if f.DataOffset%64 != 0 || f.DataOffset+144 != uint64(len(file)) {
		t.Errorf("data offset %d, file %d", f.DataOffset, len(file))
	}
	early, _ := f.Tensor("early")
	if early.Size != 34 || early.Elements() != 32 {
		t.Errorf("early: size %d elements %d", early.Size, early.Elements())
	}
}
