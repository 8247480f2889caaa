package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
	"zhiwen/generation/tokenizer"
)

// ggufKV is one metadata entry to write.
type ggufKV struct {
	key   string
	value any
}

// tensorPlan says how to write one tensor of the input file: as it is
// (typ equals the input's), or converted to typ.
type tensorPlan func(ti *gguf.TensorInfo) gguf.TensorType

// rewriteGGUF writes the model in in to outPath with its metadata (minus
// the keys in drop), then extra, and its tensors converted as plan says.
// The file is written next to outPath and renamed into place. progress,
// if not nil, is called with the fraction of input tensor bytes done.
func rewriteGGUF(ctx context.Context, in *gguf.File, outPath string, drop map[string]bool, extra []ggufKV, plan tensorPlan, progress func(float64)) error {
	w := gguf.NewWriter()
	for _, kv := range in.KV {
		if drop[kv.Key] {
			continue
		}
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("write %s: key %s: %w", outPath, kv.Key, err)
		}
	}
	for _, kv := range extra {
		if err := w.AddKV(kv.key, kv.value); err != nil {
			return fmt.Errorf("write %s: key %s: %w", outPath, kv.key, err)
		}
	}
	var total, done atomic.Int64
	for i := range in.Tensors {
		total.Add(int64(in.Tensors[i].Size))
	}
	for i := range in.Tensors {
		ti := &in.Tensors[i]
		typ := ti.Type
		if plan != nil {
			typ = plan(ti)
		}
		err := w.AddTensorFunc(ti.Name, typ, ti.Shape, func(out io.Writer) error {
			data, err := in.TensorData(ti)
			if err != nil {
				return err
			}
			if typ == ti.Type {
				_, err = out.Write(data)
			} else {
				err = convertTensor(ctx, out, ti, data, typ)
			}
			if err != nil {
				return fmt.Errorf("tensor %s: %w", ti.Name, err)
			}
			if progress != nil {
				progress(float64(done.Add(int64(ti.Size))) / float64(max(1, total.Load())))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write %s: %w", outPath, err)
		}
	}
	tmp := outPath + ".part"
	if err := gguf.WriteFile(ctx, tmp, w); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", outPath, err)
	}
	if err := os.Rename(tmp, outPath); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", outPath, err)
	}
	return nil
}

// convertTensor dequantizes data (of ti's type) and encodes it as typ,
// in parallel chunks of rows, writing the result in order.
func convertTensor(ctx context.Context, out io.Writer, ti *gguf.TensorInfo, data []byte, typ gguf.TensorType) error {
	cols := int(ti.Shape[0])
	rows := int(ti.Elements()) / max(1, cols)
	src, dst := tensor.DType(ti.Type), tensor.DType(typ)
	if cols%dst.BlockSize() != 0 {
		return fmt.Errorf("rows of %d values do not fit %s blocks of %d", cols, dst, dst.BlockSize())
	}
	inRow := tensor.RowBytes(src, cols)
	const chunkRows = 64
	nChunks := (rows + chunkRows - 1) / chunkRows
	results := make([]chan []byte, nChunks)
	for i := range results {
		results[i] = make(chan []byte, 1)
	}
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	wg.Go(func() {
		for c := range nChunks {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				r0, r1 := c*chunkRows, min((c+1)*chunkRows, rows)
				vals := make([]float32, (r1-r0)*cols)
				if err := tensor.Dequantize(src, data[r0*inRow:r1*inRow], vals); err != nil {
					fail(err)
					cancel()
					return
				}
				var enc []byte
				if dst == tensor.F32 {
					enc = gguf.EncodeFloat32s(vals)
				} else {
					var err error
					if enc, err = tensor.Quantize(dst, vals); err != nil {
						fail(err)
						cancel()
						return
					}
				}
				results[c] <- enc
			})
		}
	})
	defer wg.Wait()
	for c := range nChunks {
		select {
		case enc := <-results[c]:
			if _, err := out.Write(enc); err != nil {
				cancel()
				return err
			}
		case <-ctx.Done():
			wg.Wait()
			if firstErr != nil {
				return firstErr
			}
			return ctx.Err()
		}
	}
	return nil
}

// quantTarget is a quantization recipe for `zhiwen quantize`.
type quantTarget struct {
	name     string
	fileType uint32 // general.file_type as llama.cpp numbers it
	base     tensor.DType
	// attnV, ffnDown, embd and output override base for those tensors.
	attnV, ffnDown, embd, output tensor.DType
}

var quantTargets = map[string]quantTarget{
	"f16":    {name: "F16", fileType: 1, base: tensor.F16},
	"q8_0":   {name: "Q8_0", fileType: 7, base: tensor.Q8_0},
	"q4_0":   {name: "Q4_0", fileType: 2, base: tensor.Q4_0, output: tensor.Q6_K},
	"q4_k_m": {name: "Q4_K_M", fileType: 15, base: tensor.Q4_K, attnV: tensor.Q6_K, ffnDown: tensor.Q6_K, embd: tensor.Q6_K, output: tensor.Q6_K},
}

// typeFor picks the storage type of a tensor under recipe q: vectors
// (norms, biases) stay F32; a type whose block does not divide the row
// length falls back as llama.cpp's quantizer does (tensor.StorageType).
func (q quantTarget) typeFor(ti *gguf.TensorInfo) gguf.TensorType {
	if len(ti.Shape) < 2 || !strings.HasSuffix(ti.Name, ".weight") {
		return ti.Type
	}
	want := q.base
	pick := func(t tensor.DType) {
		if t != 0 {
			want = t
		}
	}
	switch {
	case strings.HasSuffix(ti.Name, "attn_v.weight"):
		pick(q.attnV)
	case strings.HasSuffix(ti.Name, "ffn_down.weight"):
		pick(q.ffnDown)
	case ti.Name == "token_embd.weight":
		pick(q.embd)
	case ti.Name == "output.weight":
		pick(q.output)
	}
	return gguf.TensorType(tensor.StorageType(want, int(ti.Shape[0])))
}

// hfTokenizerKV reads a Hugging Face tokenizer.json (and the
// tokenizer_config.json beside it, when present) and returns it as GGUF
// tokenizer.ggml.* metadata for a byte-level BPE vocabulary padded to
// vocabSize tokens (models round their embedding tables up).
func hfTokenizerKV(path string, vocabSize int, pre string) ([]ggufKV, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokenizer: %w", err)
	}
	var tj struct {
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(raw, &tj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("%s: model type %q: only byte-level BPE vocabularies can be embedded", path, tj.Model.Type)
	}
	n := 0
	for _, id := range tj.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range tj.AddedTokens {
		n = max(n, a.ID+1)
	}
	if n > vocabSize {
		return nil, fmt.Errorf("%s: %d tokens do not fit a model vocabulary of %d", path, n, vocabSize)
	}
	tokens := make([]string, vocabSize)
	types := make([]int32, vocabSize)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("[PAD%d]", i)
		types[i] = tokenizer.TypeUnused
	}
	for tok, id := range tj.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("%s: token %q has id %d", path, tok, id)
		}
		tokens[id], types[id] = tok, tokenizer.TypeNormal
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("%s: added token %q has id %d", path, a.Content, a.ID)
		}
		tokens[a.ID], types[a.ID] = a.Content, tokenizer.TypeUserDefined
		if a.Special {
			types[a.ID] = tokenizer.TypeControl
		}
	}
	merges := make([]string, 0, len(tj.Model.Merges))
	for _, m := range tj.Model.Merges {
		var s string
		if json.Unmarshal(m, &s) == nil {
			merges = append(merges, s)
			continue
		}
		var pair []string
		if err := json.Unmarshal(m, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("%s: bad merge %s", path, m)
		}
		merges = append(merges, pair[0]+" "+pair[1])
	}
	kv := []ggufKV{
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", pre},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.merges", merges},
	}
	// tokenizer_config.json names the special tokens and the chat template.
	var cfg struct {
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
		PAD          json.RawMessage `json:"pad_token"`
		AddBOS       *bool           `json:"add_bos_token"`
		ChatTemplate string          `json:"chat_template"`
	}
	cfgPath := filepath.Join(filepath.Dir(path), "tokenizer_config.json")
	if b, err := os.ReadFile(cfgPath); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read tokenizer config: %w", err)
	}
	ids := map[string]int{}
	for i, t := range tokens {
		if types[i] != tokenizer.TypeUnused {
			ids[t] = i
		}
	}
	for _, sp := range []struct {
		key string
		raw json.RawMessage
	}{{"tokenizer.ggml.bos_token_id", cfg.BOS}, {"tokenizer.ggml.eos_token_id", cfg.EOS}, {"tokenizer.ggml.padding_token_id", cfg.PAD}} {
		var name string
		if json.Unmarshal(sp.raw, &name) != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(sp.raw, &obj) != nil {
				continue
			}
			name = obj.Content
		}
		if id, ok := ids[name]; ok && name != "" {
			kv = append(kv, ggufKV{sp.key, uint32(id)})
		}
	}
	if cfg.AddBOS != nil {
		kv = append(kv, ggufKV{"tokenizer.ggml.add_bos_token", *cfg.AddBOS})
	}
	if cfg.ChatTemplate != "" {
		kv = append(kv, ggufKV{"tokenizer.chat_template", cfg.ChatTemplate})
	}
	return kv, nil
}
