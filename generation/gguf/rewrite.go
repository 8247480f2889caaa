package gguf

import (
	"context"
	"fmt"
	"sort"
)

// WithMetadata writes a copy of f to path with the entries of extra added to
// its metadata; an entry whose key f already has replaces it. Tensors are
// copied as they are. Values follow AddKV's rules. Use it to give a model
// file a tokenizer or a chat template.
func WithMetadata(ctx context.Context, f *File, path string, extra map[string]any) error {
	w := NewWriter()
	for _, kv := range f.KV {
		if _, replaced := extra[kv.Key]; replaced {
			continue
		}
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("gguf: %s: key %s: %w", path, kv.Key, err)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := w.AddKV(k, extra[k]); err != nil {
			return fmt.Errorf("gguf: %s: key %s: %w", path, k, err)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data, err := f.TensorData(ti)
		if err != nil {
			return err
		}
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, data); err != nil {
			return fmt.Errorf("gguf: %s: tensor %s: %w", path, ti.Name, err)
		}
	}
	return WriteFile(ctx, path, w)
}
