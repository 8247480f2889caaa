package gguf

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pickler writes pickle opcodes by hand, the way torch.save lays out a
// state dict (protocol 2), or with protocol-4 opcodes (FRAME, MEMOIZE,
// SHORT_BINUNICODE, STACK_GLOBAL) when proto4 is set.
type pickler struct {
	b      bytes.Buffer
	proto4 bool
	memo   int
}

func (p *pickler) op(b ...byte) *pickler { p.b.Write(b); return p }

func (p *pickler) start() *pickler {
	if p.proto4 {
		return p.op(0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	return p.op(0x80, 2)
}

func (p *pickler) put() *pickler {
	if p.proto4 {
		p.memo++
		return p.op(0x94)
	}
	p.op('q', byte(p.memo))
	p.memo++
	return p
}

func (p *pickler) str(s string) *pickler {
	if p.proto4 && len(s) < 256 {
		p.op(0x8c, byte(len(s)))
	} else {
		p.op('X')
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	}
	p.b.WriteString(s)
	return p
}

func (p *pickler) global(module, name string) *pickler {
	if p.proto4 {
		return p.str(module).str(name).op(0x93)
	}
	p.op('c')
	p.b.WriteString(module + "\n" + name + "\n")
	return p
}

func (p *pickler) int(n int64) *pickler {
	switch {
	case n >= 0 && n < 256:
		return p.op('K', byte(n))
	case n >= 0 && n < 65536:
		return p.op('M', byte(n), byte(n>>8))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		p.op('J')
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(n))))
		return p
	}
	p.op(0x8a, 8)
	p.b.Write(binary.LittleEndian.AppendUint64(nil, uint64(n)))
	return p
}

func (p *pickler) tuple(xs []int) *pickler {
	p.op('(')
	for _, x := range xs {
		p.int(int64(x))
	}
	return p.op('t').put()
}

func (p *pickler) orderedDict() *pickler {
	return p.global("collections", "OrderedDict").put().op(')', 'R').put()
}

type pickledTensor struct {
	storageClass, key string
	numel             int64
	offset            int64
	shape, stride     []int
	parameter         bool
}

func (p *pickler) tensor(t pickledTensor) *pickler {
	if t.parameter {
		p.global("torch._utils", "_rebuild_parameter").put()
	}
	p.global("torch._utils", "_rebuild_tensor_v2").put()
	p.op('(')
	p.op('(').str("storage").global("torch", t.storageClass).put().str(t.key).str("cpu").int(t.numel).op('t').put()
	p.op('Q').put()
	p.int(t.offset)
	p.tuple(t.shape)
	p.tuple(t.stride)
	p.op(0x89) // requires_grad False
	p.orderedDict()
	p.op('t').put().op('R').put()
	if t.parameter {
		p.op(0x88).orderedDict().op(0x87).put().op('R').put()
	}
	return p
}

// stateDict pickles an OrderedDict of tensors followed by the _metadata
// BUILD that torch.save emits for module state dicts.
func (p *pickler) stateDict(keys []string, tensors []pickledTensor) *pickler {
	p.start()
	p.orderedDict()
	p.op('(')
	for i, k := range keys {
		p.str(k).put()
		p.tensor(tensors[i])
	}
	p.op('u')
	p.op('}').put().str("_metadata").put()
	p.orderedDict().op('(').str("").put().op('}').put().str("version").put().int(1).op('s').op('u')
	p.op('s').op('b')
	return p.op('.')
}

func torchZip(t testing.TB, pkl []byte, storages map[string][]byte, extra map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		must(t, err)
		_, err = w.Write(data)
		must(t, err)
	}
	add("archive/data.pkl", pkl)
	if _, ok := extra["archive/byteorder"]; !ok {
		add("archive/byteorder", []byte("little"))
	}
	for name, v := range extra {
		add(name, []byte(v))
	}
	for key, data := range storages {
		add("archive/data/"+key, data)
	}
	must(t, zw.Close())
	return buf.Bytes()
}

func f16Bytes(hs ...uint16) []byte {
	var out []byte
	for _, h := range hs {
		out = binary.LittleEndian.AppendUint16(out, h)
	}
	return out
}

func TestReadTorch(t *testing.T) {
	f32 := EncodeFloat32s([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8})
	prefix := f16Bytes(0x3C00, 0x4000, 0xBC00, 0x3800, 0, 0x4200) // 1 2 -1 0.5 0 3
	i64 := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 7), uint64(1)<<40)
	storages := map[string][]byte{"0": f32, "1": prefix, "2": i64}
	keys := []string{
		"transformer.prefix_encoder.embedding.weight",
		"transformer.a.weight",
		"transformer.a.bias",
		"transformer.scalar",
		"position_ids",
		"empty",
	}
	tensors := []pickledTensor{
		{storageClass: "HalfStorage", key: "1", numel: 6, shape: []int{2, 3}, stride: []int{3, 1}, parameter: true},
		{storageClass: "FloatStorage", key: "0", numel: 9, shape: []int{2, 3}, stride: []int{3, 1}},
		{storageClass: "FloatStorage", key: "0", numel: 9, offset: 6, shape: []int{3}, stride: []int{1}},
		{storageClass: "FloatStorage", key: "0", numel: 9, offset: 8, shape: []int{}, stride: []int{}},
		{storageClass: "LongStorage", key: "2", numel: 2, shape: []int{1, 2}, stride: []int{7, 1}},
		{storageClass: "FloatStorage", key: "0", numel: 9, offset: 9, shape: []int{0, 4}, stride: []int{4, 1}},
	}
	want := map[string]struct {
		dtype  DType
		shape  []int
		offset int
		floats []float32
	}{
		keys[0]: {DTypeF16, []int{2, 3}, 0, []float32{1, 2, -1, 0.5, 0, 3}},
		keys[1]: {DTypeF32, []int{2, 3}, 0, []float32{0, 1, 2, 3, 4, 5}},
		keys[2]: {DTypeF32, []int{3}, 6, []float32{6, 7, 8}},
		keys[3]: {DTypeF32, []int{}, 8, []float32{8}},
		keys[5]: {DTypeF32, []int{0, 4}, 9, []float32{}},
	}
	for _, proto4 := range []bool{false, true} {
		p := &pickler{proto4: proto4}
		file := torchZip(t, p.stateDict(keys, tensors).b.Bytes(), storages, nil)
		path := filepath.Join(t.TempDir(), "pytorch_model.bin")
		must(t, os.WriteFile(path, file, 0o644))
		got, err := ReadTorch(path)
		if err != nil {
			t.Fatalf("proto4=%v: %v", proto4, err)
		}
		if len(got) != len(keys) {
			t.Fatalf("proto4=%v: %d tensors, want %d", proto4, len(got), len(keys))
		}
		for k, w := range want {
			tt := got[k]
			if tt.DType != w.dtype || !reflect.DeepEqual(tt.Shape, w.shape) || tt.StorageOffset != w.offset {
				t.Errorf("proto4=%v %s: got %s %v offset %d", proto4, k, tt.DType, tt.Shape, tt.StorageOffset)
			}
			fl, err := tt.Float32s()
			if err != nil || !reflect.DeepEqual(fl, w.floats) {
				t.Errorf("proto4=%v %s: values %v (%v), want %v", proto4, k, fl, err, w.floats)
			}
		}
		ids := got["position_ids"]
		if ids.DType != DTypeI64 || binary.LittleEndian.Uint64(ids.Data[8:]) != 1<<40 {
			t.Errorf("position_ids = %+v", ids)
		}
		viaReader, err := ReadTorchFrom(bytes.NewReader(file), int64(len(file)))
		if err != nil || !reflect.DeepEqual(viaReader, got) {
			t.Errorf("ReadTorchFrom differs: %v", err)
		}
	}
}

func TestReadTorchNestedDict(t *testing.T) {
	// {"model": {"w": tensor}, "epoch": 3} flattens to "model.w".
	p := &pickler{}
	p.start().op('}').put().op('(')
	p.str("model").put().op('}').put().str("w").put()
	p.tensor(pickledTensor{storageClass: "BFloat16Storage", key: "0", numel: 2, shape: []int{2}, stride: []int{1}})
	p.op('s')
	p.str("epoch").int(3).op('u', '.')
	file := torchZip(t, p.b.Bytes(), map[string][]byte{"0": f16Bytes(0x3F80, 0xC000)}, nil)
	got, err := ReadTorchFrom(bytes.NewReader(file), int64(len(file)))
	must(t, err)
	fl, err := got["model.w"].Float32s()
	if err != nil || !reflect.DeepEqual(fl, []float32{1, -2}) || len(got) != 1 {
		t.Errorf("got %v %v (%d tensors)", fl, err, len(got))
	}
}

func TestReadTorchRejects(t *testing.T) {
	goodTensor := pickledTensor{storageClass: "FloatStorage", key: "0", numel: 4, shape: []int{2, 2}, stride: []int{2, 1}}
	store := map[string][]byte{"0": make([]byte, 16)}
	dict := func(tt pickledTensor) []byte {
		return (&pickler{}).stateDict([]string{"w"}, []pickledTensor{tt}).b.Bytes()
	}
	osSystem := (&pickler{}).start().global("os", "system").str("echo pwned").op(0x85, 'R', '.').b.Bytes()
	evalStack := (&pickler{proto4: true}).start().global("builtins", "eval").str("1").op(0x85, 'R', '.').b.Bytes()
	callStorage := (&pickler{}).start().global("torch", "FloatStorage").op(')', 'R', '.').b.Bytes()
	torchOther := (&pickler{}).start().global("torch", "load").op('.').b.Bytes()
	inst := []byte("\x80\x02(iposix\nsystem\n.")
	tests := []struct {
		name     string
		pkl      []byte
		storages map[string][]byte
		extra    map[string]string
		want     string
	}{
		{"os.system", osSystem, nil, nil, `global "os.system" is not allowed`},
		{"builtins.eval via STACK_GLOBAL", evalStack, nil, nil, `global "builtins.eval" is not allowed`},
		{"calling a storage class", callStorage, nil, nil, "REDUCE may not call global torch.FloatStorage"},
		{"other torch global", torchOther, nil, nil, `global "torch.load" is not allowed`},
		{"INST opcode", inst, nil, nil, "opcode 0x69 at offset 3: opcode is not allowed"},
		{"protocol 1", []byte{0x80, 1, '}', '.'}, nil, nil, "protocol 1 is not supported"},
		{"no STOP", []byte{0x80, 2, '}'}, nil, nil, "without STOP"},
		{"stack underflow", []byte{0x80, 2, 's', '.'}, nil, nil, "stack underflow"},
		{"memo miss", []byte{0x80, 2, 'h', 5, '.'}, nil, nil, "memo entry 5 is not set"},
		{"string past end", []byte{0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, 'a'}, nil, nil, "runs past the end of the pickle"},
		{"root not dict", []byte{0x80, 2, 'K', 1, '.'}, nil, nil, "checkpoint root is int"},
		{"non-contiguous", dict(pickledTensor{storageClass: "FloatStorage", key: "0", numel: 4, shape: []int{2, 2}, stride: []int{1, 2}}), store, nil, "only contiguous tensors"},
		{"past storage", dict(pickledTensor{storageClass: "FloatStorage", key: "0", numel: 4, offset: 1, shape: []int{2, 2}, stride: []int{2, 1}}), store, nil, "needs more than the 4 elements"},
		{"storage size", dict(goodTensor), map[string][]byte{"0": make([]byte, 12)}, nil, `storage "0": entry holds 12 bytes, 4 F32 elements need 16`},
		{"missing storage", dict(goodTensor), nil, nil, `no entry archive/data/0`},
		{"unknown storage", dict(pickledTensor{storageClass: "ComplexFloatStorage", key: "0", numel: 4, shape: []int{4}, stride: []int{1}}), store, nil, `global "torch.ComplexFloatStorage" is not allowed`},
		{"big endian", dict(goodTensor), store, map[string]string{"archive/byteorder": "big"}, `byte order "big"`},
	}
	for _, tc := range tests {
		file := torchZip(t, tc.pkl, tc.storages, tc.extra)
		_, err := ReadTorchFrom(bytes.NewReader(file), int64(len(file)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	path := filepath.Join(t.TempDir(), "pytorch_model.bin")
	must(t, os.WriteFile(path, []byte("not a zip"), 0o644))
	if _, err := ReadTorch(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("non-zip: %v", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.Create("archive/version")
	zw.Close()
	if _, err := ReadTorchFrom(bytes.NewReader(buf.Bytes()), int64(buf.Len())); err == nil || !strings.Contains(err.Error(), "no data.pkl") {
		t.Errorf("missing data.pkl: %v", err)
	}
}

func FuzzUnpickle(f *testing.F) {
	tt := pickledTensor{storageClass: "HalfStorage", key: "0", numel: 6, shape: []int{2, 3}, stride: []int{3, 1}, parameter: true}
	f.Add((&pickler{}).stateDict([]string{"a", "b"}, []pickledTensor{tt, tt}).b.Bytes())
	f.Add((&pickler{proto4: true}).stateDict([]string{"a"}, []pickledTensor{tt}).b.Bytes())
	load := func(dt DType, key string, numel int64) ([]byte, error) {
		if numel > 1<<16 {
			return nil, errors.New("too big")
		}
		return make([]byte, numel*int64(dt.Size())), nil
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		root, err := unpickle(code, load)
		if err != nil {
			return
		}
		out := map[string]TorchTensor{}
		if collectTensors(root, "", out, 0) != nil {
			return
		}
		for k, v := range out {
			if len(v.Data) != v.Elements()*v.DType.Size() {
				t.Fatalf("tensor %q: %d bytes for shape %v", k, len(v.Data), v.Shape)
			}
		}
	})
}

// TestReadTorchPythonFixture reads a checkpoint pickled by CPython's own
// pickler in torch.save's layout (see testdata/torch/make_fixture.py).
func TestReadTorchPythonFixture(t *testing.T) {
	got, err := ReadTorch(filepath.Join("testdata", "torch", "state_dict.bin"))
	must(t, err)
	want := map[string][]float32{
		"transformer.prefix_encoder.embedding.weight": {1, 2, -1, 0.5, 0, 3},
		"transformer.a.weight":                        {0, 1, 2, 3, 4, 5},
		"transformer.a.bias":                          {6, 7, 8},
	}
	if len(got) != 4 {
		t.Errorf("%d tensors, want 4", len(got))
	}
	for k, w := range want {
		fl, err := got[k].Float32s()
		if err != nil || !reflect.DeepEqual(fl, w) {
			t.Errorf("%s = %v (%v), want %v", k, fl, err, w)
		}
	}
	if p := got["transformer.prefix_encoder.embedding.weight"]; p.DType != DTypeF16 || !reflect.DeepEqual(p.Shape, []int{2, 3}) || !reflect.DeepEqual(p.Strides, []int{3, 1}) {
		t.Errorf("prefix tensor = %+v", p)
	}
	if ids := got["position_ids"]; ids.DType != DTypeI64 || binary.LittleEndian.Uint64(ids.Data[8:]) != 1<<40 {
		t.Errorf("position_ids = %+v", ids)
	}
}
