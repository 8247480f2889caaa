package gguf

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// allValueKVs returns one metadata entry per GGUF value type, including
// arrays of every element type, an empty array and nested arrays.
func allValueKVs() []KeyValue {
	mk := func(k string, v any) KeyValue {
		val, err := valueOf(v)
		if err != nil {
			panic(err)
		}
		return KeyValue{Key: k, Value: val}
	}
	return []KeyValue{
		mk("general.architecture", "qwen2"),
		mk("t.uint8", uint8(200)),
		mk("t.int8", int8(-100)),
		mk("t.uint16", uint16(60000)),
		mk("t.int16", int16(-30000)),
		mk("t.uint32", uint32(4000000000)),
		mk("t.int32", int32(-2000000000)),
		mk("t.float32", float32(3.25)),
		mk("t.bool", true),
		mk("t.bool_false", false),
		mk("t.string", "你好, GGUF"),
		mk("t.empty_string", ""),
		mk("t.uint64", uint64(1)<<63+5),
		mk("t.int64", int64(-1)<<62),
		mk("t.float64", -1e300),
		mk("a.uint8", []uint8{0, 1, 255}),
		mk("a.int8", []int8{-128, 0, 127}),
		mk("a.uint16", []uint16{1, 65535}),
		mk("a.int16", []int16{-32768, 32767}),
		mk("a.uint32", []uint32{7, 1 << 31}),
		mk("a.int32", []int32{-5, 1 << 30}),
		mk("a.float32", []float32{-0.5, 1e-30, float32(math.Inf(1))}),
		mk("a.bool", []bool{true, false, true}),
		mk("a.string", []string{"<|im_start|>", "", "Ġthe", "中文"}),
		mk("a.uint64", []uint64{math.MaxUint64}),
		mk("a.int64", []int64{math.MinInt64, 3}),
		mk("a.float64", []float64{math.Pi}),
		mk("a.empty", []int32{}),
		mk("a.nested", []Value{
			{Type: ValueArray, Elem: ValueString, Data: []string{"a b", "c d"}},
			{Type: ValueArray, Elem: ValueString, Data: []string{}},
			{Type: ValueArray, Elem: ValueArray, Data: []Value{
				{Type: ValueArray, Elem: ValueUint32, Data: []uint32{9}},
			}},
		}),
	}
}

type testTensor struct {
	name  string
	typ   TensorType
	shape []uint64
	data  []byte
}

func makeTensors(rng *rand.Rand) []testTensor {
	specs := []struct {
		name  string
		typ   TensorType
		shape []uint64
	}{
		{"token_embd.weight", TypeF32, []uint64{8, 3}},
		{"blk.0.attn_q.weight", TypeQ4_K, []uint64{256, 2}},
		{"blk.0.ffn_down.weight", TypeQ6_K, []uint64{512, 1, 2}},
		{"blk.0.attn_norm.weight", TypeF16, []uint64{5}},
		{"blk.0.attn_k.weight", TypeQ8_0, []uint64{64, 3}},
		{"blk.0.attn_v.weight", TypeQ4_0, []uint64{32}},
		{"blk.0.bf16", TypeBF16, []uint64{3, 1, 1, 1}},
		{"scalar", TypeI32, nil},
		{"empty", TypeF32, []uint64{0, 4}},
		{"ids", TypeI8, []uint64{7}},
	}
	var out []testTensor
	for _, s := range specs {
		size, err := tensorSize(s.typ, s.shape)
		if err != nil {
			panic(err)
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		out = append(out, testTensor{s.name, s.typ, s.shape, data})
	}
	return out
}

func buildFile(t testing.TB, kvs []KeyValue, tensors []testTensor) []byte {
	t.Helper()
	w := NewWriter()
	for _, kv := range kvs {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tensors {
		if err := w.AddTensor(tt.name, tt.typ, tt.shape, tt.data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := w.Write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tensors := makeTensors(rng)
	for _, align := range []uint32{0, 8, 64} {
		kvs := allValueKVs()
		if align != 0 {
			kvs = append(kvs, KeyValue{"general.alignment", Value{Type: ValueUint32, Data: align}})
		}
		raw := buildFile(t, kvs, tensors)
		path := filepath.Join(t.TempDir(), "model.gguf")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		mapped, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		viaReader, err := Read(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []*File{mapped, viaReader} {
			wantAlign := uint64(align)
			if align == 0 {
				wantAlign = DefaultAlignment
			}
			if f.Version != 3 || f.Alignment != wantAlign {
				t.Errorf("align %d: version %d alignment %d", align, f.Version, f.Alignment)
			}
			if !reflect.DeepEqual(f.KV, kvs) {
				for i := range kvs {
					if i >= len(f.KV) || !reflect.DeepEqual(f.KV[i], kvs[i]) {
						t.Fatalf("align %d: KV %d: got %#v want %#v", align, i, f.KV[min(i, len(f.KV)-1)], kvs[i])
					}
				}
				t.Fatalf("align %d: KV differ: %d vs %d", align, len(f.KV), len(kvs))
			}
			if f.DataOffset%wantAlign != 0 {
				t.Errorf("data offset %d not aligned to %d", f.DataOffset, wantAlign)
			}
			if len(f.Tensors) != len(tensors) {
				t.Fatalf("got %d tensors", len(f.Tensors))
			}
			for i, tt := range tensors {
				info := &f.Tensors[i]
				if info.Name != tt.name || info.Type != tt.typ || !reflect.DeepEqual(info.Shape, append([]uint64{}, tt.shape...)) {
					t.Errorf("tensor %d: got %s %s %v want %s %s %v", i, info.Name, info.Type, info.Shape, tt.name, tt.typ, tt.shape)
				}
				if info.Offset%wantAlign != 0 {
					t.Errorf("tensor %s offset %d not aligned", info.Name, info.Offset)
				}
				byName, ok := f.Tensor(tt.name)
				if !ok || byName != info {
					t.Errorf("Tensor(%q) lookup failed", tt.name)
				}
				data, err := f.TensorData(info)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, tt.data) {
					t.Errorf("tensor %s: data differs", tt.name)
				}
			}
		}
		// Each tensor is padded to the alignment, as llama.cpp expects.
		if uint64(len(raw))%mapped.Alignment != 0 {
			t.Errorf("file size %d not padded to %d", len(raw), mapped.Alignment)
		}
		if err := mapped.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := mapped.TensorData(&mapped.Tensors[0]); err == nil {
			t.Error("TensorData after Close succeeded")
		}
	}
}

// TestWriterExactBytes compares the writer against a file laid out by hand
// from the GGUF specification.
func TestWriterExactBytes(t *testing.T) {
	var want bytes.Buffer
	le := binary.LittleEndian
	put := func(v any) { binary.Write(&want, le, v) }
	want.WriteString("GGUF")
	put(uint32(3))
	put(uint64(2)) // tensors
	put(uint64(2)) // kv
	put(uint64(len("general.architecture")))
	want.WriteString("general.architecture")
	put(uint32(8))
	put(uint64(5))
	want.WriteString("llama")
	put(uint64(len("tokenizer.ggml.scores")))
	want.WriteString("tokenizer.ggml.scores")
	put(uint32(9))
	put(uint32(6))
	put(uint64(2))
	put(float32(-1))
	put(float32(0.5))
	put(uint64(1))
	want.WriteString("a")
	put(uint32(1))
	put(uint64(3))
	put(uint32(0))
	put(uint64(0))
	put(uint64(1))
	want.WriteString("b")
	put(uint32(2))
	put(uint64(2))
	put(uint64(1))
	put(uint32(30))
	put(uint64(32)) // 12 bytes of "a" padded to 32
	for want.Len()%32 != 0 {
		want.WriteByte(0)
	}
	a := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	want.Write(a)
	want.Write(make([]byte, 20))
	b := []byte{0xAA, 0xBB, 0xCC, 0xDD}
	want.Write(b)
	want.Write(make([]byte, 28))

	w := NewWriter()
	must(t, w.AddKV("general.architecture", "llama"))
	must(t, w.AddKV("tokenizer.ggml.scores", []float32{-1, 0.5}))
	must(t, w.AddTensor("a", TypeF32, []uint64{3}, a))
	must(t, w.AddTensorFunc("b", TypeBF16, []uint64{2, 1}, func(out io.Writer) error {
		_, err := out.Write(b)
		return err
	}))
	var got bytes.Buffer
	must(t, w.Write(context.Background(), &got))
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("writer output differs from hand layout:\n got %x\nwant %x", got.Bytes(), want.Bytes())
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAccessors(t *testing.T) {
	raw := buildFile(t, allValueKVs(), nil)
	f, err := Read(bytes.NewReader(raw), int64(len(raw)))
	must(t, err)
	if got := f.Architecture(); got != "qwen2" {
		t.Errorf("Architecture = %q", got)
	}
	tests := []struct {
		name string
		got  any
		ok   bool
		want any
	}{
		{"uint from uint16", first(f.Uint("t.uint16")), second(f.Uint("t.uint16")), uint64(60000)},
		{"uint from uint64", first(f.Uint("t.uint64")), second(f.Uint("t.uint64")), uint64(1)<<63 + 5},
		{"uint refuses negative", first(f.Uint("t.int8")), !second(f.Uint("t.int8")), uint64(0)},
		{"int from int32", first(f.Int("t.int32")), second(f.Int("t.int32")), int64(-2000000000)},
		{"int refuses huge uint64", first(f.Int("t.uint64")), !second(f.Int("t.uint64")), int64(0)},
		{"float from float32", first(f.Float("t.float32")), second(f.Float("t.float32")), 3.25},
		{"float from int", first(f.Float("t.int16")), second(f.Float("t.int16")), -30000.0},
		{"bool", first(f.Bool("t.bool")), second(f.Bool("t.bool")), true},
		{"string", first(f.String("t.string")), second(f.String("t.string")), "你好, GGUF"},
		{"string wrong type", first(f.String("t.uint8")), !second(f.String("t.uint8")), ""},
		{"strings", first(f.Strings("a.string")), second(f.Strings("a.string")), []string{"<|im_start|>", "", "Ġthe", "中文"}},
		{"ints from int32", first(f.Ints("a.int32")), second(f.Ints("a.int32")), []int64{-5, 1 << 30}},
		{"ints from uint8", first(f.Ints("a.uint8")), second(f.Ints("a.uint8")), []int64{0, 1, 255}},
		{"ints refuse huge", first(f.Ints("a.uint64")), !second(f.Ints("a.uint64")), []int64(nil)},
		{"floats", first(f.Floats("a.float64")), second(f.Floats("a.float64")), []float32{math.Pi}},
		{"missing", first(f.Uint("nope")), !second(f.Uint("nope")), uint64(0)},
	}
	for _, tc := range tests {
		if !tc.ok || !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %#v (ok=%v), want %#v", tc.name, tc.got, tc.ok, tc.want)
		}
	}
	if s := f.Summary(); !strings.Contains(s, `"qwen2"`) || !strings.Contains(s, "0 tensors") {
		t.Errorf("Summary = %q", s)
	}
}

func first[A, B any](a A, _ B) A  { return a }
func second[A, B any](_ A, b B) B { return b }

func TestWriterRejects(t *testing.T) {
	tests := []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"plain int", func(w *Writer) error { return w.AddKV("k", 5) }, "sized integer"},
		{"unsupported type", func(w *Writer) error { return w.AddKV("k", struct{}{}) }, "cannot be stored"},
		{"duplicate key", func(w *Writer) error { w.AddKV("k", "a"); return w.AddKV("k", "b") }, "added twice"},
		{"alignment type", func(w *Writer) error { return w.AddKV("general.alignment", uint64(32)) }, "uint32 power of two"},
		{"alignment value", func(w *Writer) error { return w.AddKV("general.alignment", uint32(24)) }, "uint32 power of two"},
		{"alignment too large", func(w *Writer) error { return w.AddKV("general.alignment", uint32(1<<17)) }, "up to 65536"},
		{"mismatched Value", func(w *Writer) error {
			return w.AddKV("k", Value{Type: ValueArray, Elem: ValueInt32, Data: []float32{1}})
		}, "holds Go"},
		{"duplicate tensor", func(w *Writer) error {
			w.AddTensor("x", TypeF32, []uint64{1}, make([]byte, 4))
			return w.AddTensor("x", TypeF32, []uint64{1}, make([]byte, 4))
		}, "added twice"},
		{"long name", func(w *Writer) error {
			return w.AddTensor(strings.Repeat("n", 64), TypeF32, []uint64{1}, make([]byte, 4))
		}, "must be 1 to 63"},
		{"block multiple", func(w *Writer) error { return w.AddTensor("x", TypeQ4_0, []uint64{33}, nil) }, "not a multiple"},
		{"unknown type", func(w *Writer) error { return w.AddTensor("x", TensorType(99), []uint64{1}, nil) }, "unknown tensor type"},
		{"too many dims", func(w *Writer) error { return w.AddTensor("x", TypeF32, []uint64{1, 1, 1, 1, 1}, nil) }, "dimensions"},
		{"overflow", func(w *Writer) error { return w.AddTensor("x", TypeF32, []uint64{1 << 40, 1 << 40}, nil) }, "overflows"},
		{"data size", func(w *Writer) error { return w.AddTensor("x", TypeF32, []uint64{2}, make([]byte, 4)) }, "needs 8"},
		{"stream short", func(w *Writer) error {
			must(t, w.AddTensorFunc("x", TypeF32, []uint64{2}, func(out io.Writer) error {
				_, err := out.Write(make([]byte, 4))
				return err
			}))
			return w.Write(context.Background(), io.Discard)
		}, "wrote 4 bytes, declared size is 8"},
		{"cancelled", func(w *Writer) error {
			must(t, w.AddTensor("x", TypeF32, []uint64{1}, make([]byte, 4)))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return w.Write(ctx, io.Discard)
		}, "context canceled"},
	}
	for _, tc := range tests {
		err := tc.do(NewWriter())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.gguf")
	w := NewWriter()
	must(t, w.AddKV("general.architecture", "bert"))
	must(t, w.AddTensor("w", TypeF32, []uint64{2}, []byte{0, 0, 128, 63, 0, 0, 0, 64}))
	must(t, WriteFile(context.Background(), path, w))
	f, err := Open(path)
	must(t, err)
	defer f.Close()
	info, _ := f.Tensor("w")
	data, err := f.TensorData(info)
	must(t, err)
	if math.Float32frombits(binary.LittleEndian.Uint32(data[4:])) != 2 {
		t.Errorf("data = %v", data)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestTensorTypeTable(t *testing.T) {
	tests := []struct {
		typ              TensorType
		name             string
		block, blockSize uint64
	}{
		{TypeF32, "F32", 1, 4}, {TypeF16, "F16", 1, 2}, {TypeQ4_0, "Q4_0", 32, 18},
		{TypeQ4_1, "Q4_1", 32, 20}, {TypeQ5_0, "Q5_0", 32, 22}, {TypeQ5_1, "Q5_1", 32, 24},
		{TypeQ8_0, "Q8_0", 32, 34}, {TypeQ8_1, "Q8_1", 32, 36}, {TypeQ2_K, "Q2_K", 256, 84},
		{TypeQ3_K, "Q3_K", 256, 110}, {TypeQ4_K, "Q4_K", 256, 144}, {TypeQ5_K, "Q5_K", 256, 176},
		{TypeQ6_K, "Q6_K", 256, 210}, {TypeQ8_K, "Q8_K", 256, 292}, {TypeIQ2_XXS, "IQ2_XXS", 256, 66},
		{TypeIQ2_XS, "IQ2_XS", 256, 74}, {TypeIQ3_XXS, "IQ3_XXS", 256, 98}, {TypeIQ1_S, "IQ1_S", 256, 50},
		{TypeIQ4_NL, "IQ4_NL", 32, 18}, {TypeIQ3_S, "IQ3_S", 256, 110}, {TypeIQ2_S, "IQ2_S", 256, 82},
		{TypeIQ4_XS, "IQ4_XS", 256, 136}, {TypeI8, "I8", 1, 1}, {TypeI16, "I16", 1, 2},
		{TypeI32, "I32", 1, 4}, {TypeI64, "I64", 1, 8}, {TypeF64, "F64", 1, 8},
		{TypeIQ1_M, "IQ1_M", 256, 56}, {TypeBF16, "BF16", 1, 2}, {TypeTQ1_0, "TQ1_0", 256, 54},
		{TypeTQ2_0, "TQ2_0", 256, 66},
	}
	if len(tests) != len(tensorTypes) {
		t.Errorf("table has %d types, test covers %d", len(tensorTypes), len(tests))
	}
	for _, tc := range tests {
		if tc.typ.String() != tc.name || tc.typ.BlockSize() != tc.block || tc.typ.BlockBytes() != tc.blockSize {
			t.Errorf("%d: got %s %d %d, want %s %d %d", tc.typ, tc.typ, tc.typ.BlockSize(), tc.typ.BlockBytes(), tc.name, tc.block, tc.blockSize)
		}
		if got := tc.typ.RowBytes(tc.block * 4); got != 4*tc.blockSize {
			t.Errorf("%s RowBytes = %d", tc.name, got)
		}
		if p, err := ParseTensorType(strings.ToLower(tc.name)); err != nil || p != tc.typ {
			t.Errorf("ParseTensorType(%q) = %v, %v", tc.name, p, err)
		}
	}
	if TypeQ4_K.RowBytes(100) != 0 || TensorType(4).String() != "type(4)" || TensorType(4).Known() {
		t.Error("invalid inputs not reported")
	}
}

func TestWithMetadata(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter()
	w.AddKV("general.architecture", "llama")
	w.AddKV("general.name", "old")
	data := make([]byte, 4*8)
	for i := range data {
		data[i] = byte(i)
	}
	if err := w.AddTensor("t", TensorType(0), []uint64{8}, data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "a.gguf")
	if err := WriteFile(context.Background(), src, w); err != nil {
		t.Fatal(err)
	}
	f, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dst := filepath.Join(dir, "b.gguf")
	if err := WithMetadata(context.Background(), f, dst, map[string]any{"general.name": "new", "tokenizer.ggml.tokens": []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	g, err := Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if name, _ := g.String("general.name"); name != "new" {
		t.Errorf("general.name = %q", name)
	}
	if arch := g.Architecture(); arch != "llama" {
		t.Errorf("architecture = %q", arch)
	}
	if toks, _ := g.Strings("tokenizer.ggml.tokens"); len(toks) != 2 {
		t.Errorf("tokens = %v", toks)
	}
	ti, ok := g.Tensor("t")
	if !ok {
		t.Fatal("tensor lost")
	}
	got, _ := g.TensorData(ti)
	if !bytes.Equal(got, data) {
		t.Errorf("tensor data changed")
	}
	if n := len(g.KV); n != len(f.KV)+1 {
		t.Errorf("%d keys, want %d (one replaced, one added)", n, len(f.KV)+1)
	}
}

// TestRelease checks that releasing a mapped tensor's pages leaves its
// bytes readable and unchanged (they fault back in from the page cache),
// and that Release ignores bytes that are not the file's.
func TestRelease(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3<<20) // several pages, not page-aligned in the file
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "big.gguf")
	w := NewWriter()
	must(t, w.AddKV("general.architecture", "llama"))
	must(t, w.AddTensor("w", TypeI8, []uint64{uint64(len(data))}, data))
	must(t, WriteFile(context.Background(), path, w))
	f, err := Open(path)
	must(t, err)
	defer f.Close()
	info, _ := f.Tensor("w")
	got, err := f.TensorData(info)
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("tensor data differs before Release")
	}
	f.Release(got)
	f.Release(make([]byte, 10)) // not the file's: ignored
	if !bytes.Equal(got, data) {
		t.Fatal("tensor data differs after Release")
	}
}
