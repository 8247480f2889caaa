package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func safeFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestSafetensorsHandMade(t *testing.T) {
	// A PEFT-style adapter written by hand: F16 values chosen to cover
	// normal, negative, subnormal, infinite and signed-zero halves.
	halves := []uint16{0x3C00, 0xC000, 0x3555, 0x0001, 0x7C00, 0x8000}
	want := []float32{1, -2, 0.33325195, 5.9604645e-08, float32(math.Inf(1)), float32(math.Copysign(0, -1))}
	data := make([]byte, 0, 12+8)
	for _, h := range halves {
		data = binary.LittleEndian.AppendUint16(data, h)
	}
	data = binary.LittleEndian.AppendUint32(data, math.Float32bits(1.5))
	data = binary.LittleEndian.AppendUint16(data, 0x3FC0) // BF16 1.5
	data = binary.LittleEndian.AppendUint16(data, 0xC0A0) // BF16 -5
	header := `{"__metadata__":{"format":"pt"},` +
		`"base_model.model.layers.0.self_attn.q_proj.lora_A.weight":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},` +
		`"scale":{"data_offsets":[12,16],"dtype":"F32","shape":[]},` +
		`"bf":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}}   `
	file := safeFile(header, data)
	path := filepath.Join(t.TempDir(), "adapter_model.safetensors")
	must(t, os.WriteFile(path, file, 0o644))
	s, err := OpenSafetensors(path)
	must(t, err)
	defer s.Close()
	if s.Metadata["format"] != "pt" || len(s.Tensors) != 3 {
		t.Fatalf("metadata %v, %d tensors", s.Metadata, len(s.Tensors))
	}
	names := []string{s.Tensors[0].Name, s.Tensors[1].Name, s.Tensors[2].Name}
	if !reflect.DeepEqual(names, []string{"base_model.model.layers.0.self_attn.q_proj.lora_A.weight", "scale", "bf"}) {
		t.Errorf("header order lost: %v", names)
	}
	a, _ := s.Tensor(names[0])
	if a.DType != DTypeF16 || !reflect.DeepEqual(a.Shape, []int{2, 3}) || a.Elements() != 6 {
		t.Errorf("lora_A: %s %v", a.DType, a.Shape)
	}
	got, err := s.Float32s(names[0])
	must(t, err)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("half %#04x: got %g want %g", halves[i], got[i], want[i])
		}
	}
	if sc, err := s.Float32s("scale"); err != nil || len(sc) != 1 || sc[0] != 1.5 {
		t.Errorf("scale = %v, %v", sc, err)
	}
	if bf, err := s.Float32s("bf"); err != nil || !reflect.DeepEqual(bf, []float32{1.5, -5}) {
		t.Errorf("bf16 = %v, %v", bf, err)
	}
	if _, err := s.Float32s("missing"); err == nil || !strings.Contains(err.Error(), `no tensor "missing"`) {
		t.Errorf("missing tensor error: %v", err)
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	var tensors []SafeTensor
	for i, dt := range []DType{DTypeF64, DTypeF32, DTypeF16, DTypeBF16, DTypeI64, DTypeI32, DTypeI16, DTypeI8, DTypeU8, DTypeBool, DTypeU16, DTypeU32, DTypeU64, DTypeF8E4M3, DTypeF8E5M2} {
		shape := []int{i%3 + 1, 2}
		data := make([]byte, dt.Size()*shape[0]*shape[1])
		for j := range data {
			data[j] = byte(i*31 + j)
		}
		tensors = append(tensors, SafeTensor{Name: "t." + string(dt), DType: dt, Shape: shape, Data: data})
	}
	tensors = append(tensors, SafeTensor{Name: "empty", DType: DTypeF32, Shape: []int{0, 5}, Data: []byte{}})
	tensors = append(tensors, SafeTensor{Name: "scalar", DType: DTypeF32, Shape: []int{}, Data: EncodeFloat32s([]float32{7})})
	md := map[string]string{"format": "pt", "中文": "值\"quoted\""}
	var buf bytes.Buffer
	must(t, WriteSafetensors(&buf, tensors, md))
	if n := binary.LittleEndian.Uint64(buf.Bytes()); (8+n)%8 != 0 {
		t.Errorf("header length %d leaves the data section unaligned", n)
	}
	s, err := ReadSafetensors(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	must(t, err)
	if !reflect.DeepEqual(s.Metadata, md) {
		t.Errorf("metadata %v", s.Metadata)
	}
	if len(s.Tensors) != len(tensors) {
		t.Fatalf("%d tensors", len(s.Tensors))
	}
	for i, want := range tensors {
		got := s.Tensors[i]
		if got.Name != want.Name || got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("tensor %d: got %+v want %+v", i, got, want)
		}
	}
	if _, err := s.Float32s("t.I32"); err == nil {
		t.Error("Float32s on I32 succeeded")
	}
}

func TestSafetensorsRejects(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"too small", []byte{1, 2}, "too small"},
		{"header past EOF", safeFile("{}", nil)[:9], "runs past the end"},
		{"header limit", binary.LittleEndian.AppendUint64(nil, MaxSafetensorsHeader+1), "exceeds"},
		{"not object", safeFile(`[1,2]`, nil), "not a JSON object"},
		{"bad json", safeFile(`{"a":`, nil), "header entry"},
		{"trailing", safeFile(`{} {}`, nil), "trailing data"},
		{"unknown dtype", safeFile(`{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), `tensor "w": unknown dtype "Q4"`},
		{"missing shape", safeFile(`{"w":{"dtype":"U8","data_offsets":[0,0]}}`, nil), "missing shape"},
		{"offsets count", safeFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}}`, []byte{0}), "data_offsets has 1 values"},
		{"reversed", safeFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}`, []byte{0}), "reversed"},
		{"past end", safeFile(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8)), `tensor "w": data ends at 16 past the 8 byte data section`},
		{"size mismatch", safeFile(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "F32 [3] needs 12"},
		{"negative dim", safeFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, nil), "negative dimension"},
		{"overflow", safeFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "overflows"},
		{"overlap", safeFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, make([]byte, 8)), `tensor "a" overlaps tensor "b"`},
		{"duplicate", safeFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), `tensor "a" appears twice`},
		{"metadata not strings", safeFile(`{"__metadata__":{"n":1}}`, nil), "__metadata__ must map strings"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		path := filepath.Join(dir, "bad.safetensors")
		must(t, os.WriteFile(path, tc.file, 0o644))
		s, err := OpenSafetensors(path)
		if err == nil {
			s.Close()
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "safetensors: "+path) {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.want)
		}
		if _, err := ReadSafetensors(bytes.NewReader(tc.file), int64(len(tc.file))); err == nil {
			t.Errorf("%s: ReadSafetensors accepted", tc.name)
		}
	}
}

func TestWriteSafetensorsRejects(t *testing.T) {
	tests := []struct {
		name    string
		tensors []SafeTensor
		want    string
	}{
		{"size", []SafeTensor{{Name: "w", DType: DTypeF32, Shape: []int{2}, Data: make([]byte, 4)}}, "needs 8"},
		{"dtype", []SafeTensor{{Name: "w", DType: "Q4", Shape: []int{2}}}, "unknown dtype"},
		{"reserved", []SafeTensor{{Name: "__metadata__", DType: DTypeU8, Shape: []int{0}}}, "reserved"},
		{"repeated", []SafeTensor{{Name: "a", DType: DTypeU8, Shape: []int{0}}, {Name: "a", DType: DTypeU8, Shape: []int{0}}}, "repeated"},
		{"negative", []SafeTensor{{Name: "a", DType: DTypeU8, Shape: []int{-1}}}, "invalid shape"},
	}
	for _, tc := range tests {
		err := WriteSafetensors(&bytes.Buffer{}, tc.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestHalfToFloat32 checks every binary16 bit pattern against the
// definition of the format.
func TestHalfToFloat32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		exp := (h >> 10) & 0x1f
		mant := float64(h & 0x3ff)
		var want float64
		switch {
		case exp == 0:
			want = sign * mant * math.Pow(2, -24)
		case exp == 31 && mant == 0:
			want = sign * math.Inf(1)
		case exp == 31:
			want = math.NaN()
		default:
			want = sign * (1 + mant/1024) * math.Pow(2, float64(exp-15))
		}
		got := HalfToFloat32(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: got %g want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("%#04x: got %g want %g", h, got, want)
		}
	}
}

func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	WriteSafetensors(&buf, []SafeTensor{
		{Name: "a", DType: DTypeF16, Shape: []int{2, 2}, Data: make([]byte, 8)},
		{Name: "b", DType: DTypeF32, Shape: []int{1}, Data: EncodeFloat32s([]float32{1})},
	}, map[string]string{"format": "pt"})
	f.Add(buf.Bytes())
	f.Add(safeFile(`{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadSafetensors(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for i := range s.Tensors {
			tt := &s.Tensors[i]
			if len(tt.Data) != tt.Elements()*tt.DType.Size() {
				t.Fatalf("tensor %q: %d bytes for %v", tt.Name, len(tt.Data), tt.Shape)
			}
			switch tt.DType {
			case DTypeF32, DTypeF16, DTypeBF16, DTypeF64:
				if _, err := tt.Float32s(); err != nil {
					t.Fatal(err)
				}
			}
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, s.Tensors, s.Metadata); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		again, err := ReadSafetensors(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("reread: %v", err)
		}
		if !reflect.DeepEqual(again.Metadata, s.Metadata) || len(again.Tensors) != len(s.Tensors) {
			t.Fatal("rewrite changed the file")
		}
		for i := range s.Tensors {
			if !bytes.Equal(again.Tensors[i].Data, s.Tensors[i].Data) || again.Tensors[i].Name != s.Tensors[i].Name {
				t.Fatalf("rewrite changed tensor %q", s.Tensors[i].Name)
			}
		}
	})
}
