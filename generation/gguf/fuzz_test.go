package gguf

import (
	"bytes"
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the GGUF parser. Whatever parses must
// have every tensor's data inside the file, and must survive a rewrite by
// the Writer unchanged.
func FuzzRead(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	f.Add(buildFile(f, allValueKVs(), makeTensors(rng)))
	f.Add(buildFile(f, allValueKVs()[:3], nil))
	small := makeTensors(rng)[:2]
	f.Add(buildFile(f, []KeyValue{{"general.alignment", Value{Type: ValueUint32, Data: uint32(8)}}}, small))
	f.Add(rawFile{version: 2, tensors: []rawTensor{{name: "w", dims: []uint64{4}, typ: TypeF32}}, dataBytes: 16}.bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for i := range file.Tensors {
			td, err := file.TensorData(&file.Tensors[i])
			if err != nil {
				t.Fatalf("parsed file but tensor %q unreadable: %v", file.Tensors[i].Name, err)
			}
			if uint64(len(td)) != file.Tensors[i].Size {
				t.Fatalf("tensor %q: %d bytes, size %d", file.Tensors[i].Name, len(td), file.Tensors[i].Size)
			}
		}
		_ = file.Summary()
		w := NewWriter()
		for _, kv := range file.KV {
			if err := w.AddKV(kv.Key, kv.Value); err != nil {
				return // e.g. a non-uint32 general.alignment the writer refuses
			}
		}
		for i := range file.Tensors {
			ti := &file.Tensors[i]
			td, _ := file.TensorData(ti)
			if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, td); err != nil {
				return // e.g. names longer than llama.cpp accepts
			}
		}
		var out bytes.Buffer
		if err := w.Write(context.Background(), &out); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		again, err := Read(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("reread of rewritten file: %v", err)
		}
		if len(again.KV) != len(file.KV) || len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("rewrite changed counts")
		}
		for i := range file.KV {
			if !sameValue(file.KV[i].Value, again.KV[i].Value) || file.KV[i].Key != again.KV[i].Key {
				t.Fatalf("rewrite changed KV %q", file.KV[i].Key)
			}
		}
		for i := range file.Tensors {
			a, _ := file.TensorData(&file.Tensors[i])
			b, _ := again.TensorData(&again.Tensors[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("rewrite changed tensor %q", file.Tensors[i].Name)
			}
		}
	})
}

// sameValue compares values bit for bit, so NaNs read from fuzz input
// compare equal to themselves.
func sameValue(a, b Value) bool {
	var ea, eb bytes.Buffer
	(&encoder{w: &ea}).value(a)
	(&encoder{w: &eb}).value(b)
	return a.Type == b.Type && a.Elem == b.Elem && bytes.Equal(ea.Bytes(), eb.Bytes()) &&
		reflect.TypeOf(a.Data) == reflect.TypeOf(b.Data)
}
