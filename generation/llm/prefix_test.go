package llm

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// glmPrefixRows lays the oracle's prefix ([layer·2+kv, kvHeads, P, headDim])
// out as a ChatGLM prefix_encoder embedding [P, layers·2·kvHeads·headDim],
// as float16 bits.
func glmPrefixRows(d *glmData, layers int) []uint16 {
	kvDim := d.kvHeads * d.headDim
	width := layers * 2 * kvDim
	out := make([]uint16, d.preSeqLen*width)
	for lk := range layers * 2 {
		for g := range d.kvHeads {
			for s := range d.preSeqLen {
				for j := range d.headDim {
					v := d.prefix[((lk*d.kvHeads+g)*d.preSeqLen+s)*d.headDim+j]
					out[s*width+lk*kvDim+g*d.headDim+j] = tensor.F32ToF16(v)
				}
			}
		}
	}
	return out
}

func u16bytes(xs []uint16) []byte {
	out := make([]byte, 0, 2*len(xs))
	for _, x := range xs {
		out = binary.LittleEndian.AppendUint16(out, x)
	}
	return out
}

// pickleWriter emits the pickle of a torch.save'd state dict of tensors
// (protocol 2), enough for ReadTorch.
type pickleWriter struct{ b bytes.Buffer }

func (p *pickleWriter) op(b ...byte)       { p.b.Write(b) }
func (p *pickleWriter) global(m, n string) { p.op('c'); p.b.WriteString(m + "\n" + n + "\n") }
func (p *pickleWriter) str(s string) {
	p.op('X')
	p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.b.WriteString(s)
}
func (p *pickleWriter) int(n int) {
	p.op('J')
	p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(n))))
}
func (p *pickleWriter) ints(xs ...int) {
	p.op('(')
	for _, x := range xs {
		p.int(x)
	}
	p.op('t')
}
func (p *pickleWriter) orderedDict() { p.global("collections", "OrderedDict"); p.op(')', 'R') }

// torchCheckpoint writes a PyTorch zip checkpoint holding one F16 tensor.
func torchCheckpoint(t *testing.T, path, key string, shape []int, data []byte) {
	t.Helper()
	var p pickleWriter
	p.op(0x80, 2)
	p.orderedDict()
	p.op('(')
	p.str(key)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(')
	p.op('(')
	p.str("storage")
	p.global("torch", "HalfStorage")
	p.str("0")
	p.str("cpu")
	p.int(len(data) / 2)
	p.op('t', 'Q')
	p.int(0)
	p.ints(shape...)
	p.ints(shape[1], 1)
	p.op(0x89)
	p.orderedDict()
	p.op('t', 'R')
	p.op('u', '.')
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct {
		name string
		data []byte
	}{{"archive/data.pkl", p.b.Bytes()}, {"archive/byteorder", []byte("little")}, {"archive/data/0", data}, {"archive/version", []byte("3\n")}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

// TestPTuningV2Oracle loads chatglm.cpp's p-tuning v2 prefix as a ChatGLM
// prefix checkpoint (safetensors and PyTorch .bin), installs it through an
// AdapterSet and reproduces the PyTorch outputs y1, y2, y3.
func TestPTuningV2Oracle(t *testing.T) {
	d := readGLMData(t, "glm3_ptuning_v2_model.data", true, 1e-5)
	m := loadGLM(t, d, tensor.F32)
	cfg := m.Config()
	rows := u16bytes(glmPrefixRows(d, cfg.Layers))
	shape := []int{d.preSeqLen, cfg.Layers * 2 * cfg.KVDim()}
	dir := t.TempDir()

	stPath := filepath.Join(dir, "ptuning.safetensors")
	var buf bytes.Buffer
	if err := gguf.WriteSafetensors(&buf, []gguf.SafeTensor{{Name: chatglmPrefixKey, DType: gguf.DTypeF16, Shape: shape, Data: rows}}, nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, stPath, buf.Bytes())
	binDir := filepath.Join(dir, "checkpoint-1000")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	torchCheckpoint(t, filepath.Join(binDir, "pytorch_model.bin"), chatglmPrefixKey, shape, rows)

	for _, path := range []string{stPath, binDir} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			a := mustLoad(t, path, cfg)
			if a.Kind != AdapterPrefix || a.Format != "chatglm" || a.Prefix.Len != d.preSeqLen || a.Prefix.PositionsAfterPrefix {
				t.Fatalf("loaded %s (positions after prefix %v)", a.Describe(), a.Prefix.PositionsAfterPrefix)
			}
			cache := m.NewCache(16)
			if err := cache.UseAdapters(mustSet(t, cfg, AdapterUse{Adapter: a})); err != nil {
				t.Fatal(err)
			}
			pos := 0
			for step := range 3 {
				got, err := m.ForwardHidden(context.Background(), toInts(d.inputs[step]), pos, cache)
				if err != nil {
					t.Fatal(err)
				}
				pos += len(d.inputs[step])
				tol := 1e-4
				if step == 0 {
					// The file stores the prefix rounded to float16 while
					// PyTorch ran it in float32. That rounding alone costs
					// y1 about 1e-4: jittering the prefix by less than one
					// float16 ulp moves y1's error between 0.8e-4 and
					// 1.9e-4. Measured here: 1.07e-4.
					tol = 1.2e-4
				}
				if e := relErr(got, d.outputs[step]); e > tol {
					t.Errorf("y%d: relative error %.3g > %g", step+1, e, tol)
				} else {
					t.Logf("y%d: relative error %.3g", step+1, e)
				}
			}
		})
	}
}

// TestPrefixRefusesMalformed: a prefix of the wrong width, or a .bin that
// holds something other than tensors, is refused with a clear error.
func TestPrefixRefusesMalformed(t *testing.T) {
	d := readGLMData(t, "glm3_ptuning_v2_model.data", true, 1e-5)
	m := loadGLM(t, d, tensor.F32)
	cfg := m.Config()
	dir := t.TempDir()
	bad := filepath.Join(dir, "narrow.bin")
	torchCheckpoint(t, bad, chatglmPrefixKey, []int{5, 8}, make([]byte, 5*8*2))
	if _, err := LoadAdapter(bad, cfg); err == nil || !strings.Contains(err.Error(), chatglmPrefixKey) {
		t.Errorf("narrow prefix: error %v, want one naming %s", err, chatglmPrefixKey)
	}
	// A pickle that calls os.system must be refused, not run.
	var p pickleWriter
	p.op(0x80, 2)
	p.global("os", "system")
	p.str("touch " + filepath.Join(dir, "pwned"))
	p.op(0x85, 'R', '.')
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("archive/data.pkl")
	w.Write(p.b.Bytes())
	zw.Close()
	evil := filepath.Join(dir, "evil.bin")
	writeFile(t, evil, buf.Bytes())
	if _, err := LoadAdapter(evil, cfg); err == nil {
		t.Error("a pickle calling os.system was accepted")
	} else {
		t.Logf("refused: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("the pickle ran code")
	}
}

// TestPEFTPrefixPositions builds a PEFT PREFIX_TUNING adapter from the keys
// and values the model itself computes for five real tokens. With the
// Hugging Face convention (real tokens numbered after the prefix), running
// the remaining tokens after that prefix must reproduce a full run exactly;
// numbering them from 0 (the ChatGLM convention) must not.
func TestPEFTPrefixPositions(t *testing.T) {
	for _, arch := range []string{"qwen2", "llama"} {
		t.Run(arch, func(t *testing.T) {
			_, m := tinyModel(t, arch, tensor.F32)
			cfg := m.Config()
			ctx := context.Background()
			const p = 5
			full, err := m.Forward(ctx, adapterTokens, 0, m.NewCache(16))
			if err != nil {
				t.Fatal(err)
			}
			run := m.NewCache(16)
			if _, err := m.Forward(ctx, adapterTokens[:p], 0, run); err != nil {
				t.Fatal(err)
			}
			kvDim, hd := cfg.KVDim(), cfg.HeadDim
			width := cfg.Layers * 2 * kvDim
			emb := make([]float32, p*width)
			for l := range cfg.Layers {
				for s := range p {
					key := run.key(l, run.slot(s))
					row := emb[s*width:]
					for e := range kvDim {
						k := key[e]
						if arch == "llama" {
							// Back to Hugging Face's half-split layout:
							// element t·(d/2)+i comes from 2i+t.
							h, j := e/hd, e%hd
							t2, i := j/(hd/2), j%(hd/2)
							k = key[h*hd+2*i+t2]
						}
						row[2*l*kvDim+e] = k
						row[(2*l+1)*kvDim+e] = run.value(l, run.slot(s))[e]
					}
				}
			}
			dir := filepath.Join(t.TempDir(), "peft-prefix")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := gguf.WriteSafetensors(&buf, []gguf.SafeTensor{{Name: "prompt_embeddings", DType: gguf.DTypeF32, Shape: []int{p, width}, Data: gguf.EncodeFloat32s(emb)}}, nil); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "adapter_model.safetensors"), buf.Bytes())
			conf, _ := json.Marshal(map[string]any{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": p, "num_layers": cfg.Layers,
				"token_dim": cfg.Hidden, "num_attention_heads": cfg.Heads, "prefix_projection": false, "inference_mode": true})
			writeFile(t, filepath.Join(dir, "adapter_config.json"), conf)

			a := mustLoad(t, dir, cfg)
			if a.Kind != AdapterPrefix || !a.Prefix.PositionsAfterPrefix {
				t.Fatalf("loaded %s, positions after prefix %v", a.Describe(), a.Prefix.PositionsAfterPrefix)
			}
			cache := m.NewCache(16)
			if err := cache.UseAdapters(mustSet(t, cfg, AdapterUse{Adapter: a})); err != nil {
				t.Fatal(err)
			}
			got, err := m.Forward(ctx, adapterTokens[p:], 0, cache)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(got, full); e > 1e-5 {
				t.Errorf("prefix + rest vs full run: relative error %.3g", e)
			} else {
				t.Logf("prefix + rest vs full run: relative error %.3g", e)
			}
			// Switching back to no adapter drops the prefix.
			if err := cache.UseAdapters(nil); err != nil || cache.PrefixLen() != 0 {
				t.Fatalf("clearing adapters: %v, prefix %d", err, cache.PrefixLen())
			}
			// The ChatGLM numbering gives different logits.
			glm := *a.Prefix
			glm.PositionsAfterPrefix = false
			other := mustSet(t, cfg, AdapterUse{Adapter: &Adapter{Name: "glm", Kind: AdapterPrefix, Prefix: &glm}})
			if err := cache.UseAdapters(other); err != nil {
				t.Fatal(err)
			}
			wrong, err := m.Forward(ctx, adapterTokens[p:], 0, cache)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(wrong, full); e < 1e-3 {
				t.Errorf("positions from 0 also match (%.3g): the test cannot tell the conventions apart", e)
			}
		})
	}
}

// TestChatGLMPrefixProjection: a checkpoint trained with prefix_projection
// stores the embedding and the MLP trans.0 → tanh → trans.2; the loader
// runs the MLP to get the key/values.
func TestChatGLMPrefixProjection(t *testing.T) {
	cfg := Config{Arch: "chatglm", Hidden: 8, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 4, FFN: 16}
	const p, hidden = 3, 5
	kv := cfg.Layers * 2 * cfg.KVDim() // 16
	rng := rand.New(rand.NewPCG(3, 4))
	randVals := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	emb, w1, b1, w2, b2 := randVals(p*kv), randVals(hidden*kv), randVals(hidden), randVals(kv*hidden), randVals(kv)
	const stem = "transformer.prefix_encoder."
	var buf bytes.Buffer
	err := gguf.WriteSafetensors(&buf, []gguf.SafeTensor{
		{Name: stem + "embedding.weight", DType: gguf.DTypeF32, Shape: []int{p, kv}, Data: gguf.EncodeFloat32s(emb)},
		{Name: stem + "trans.0.weight", DType: gguf.DTypeF32, Shape: []int{hidden, kv}, Data: gguf.EncodeFloat32s(w1)},
		{Name: stem + "trans.0.bias", DType: gguf.DTypeF32, Shape: []int{hidden}, Data: gguf.EncodeFloat32s(b1)},
		{Name: stem + "trans.2.weight", DType: gguf.DTypeF32, Shape: []int{kv, hidden}, Data: gguf.EncodeFloat32s(w2)},
		{Name: stem + "trans.2.bias", DType: gguf.DTypeF32, Shape: []int{kv}, Data: gguf.EncodeFloat32s(b2)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prefix.safetensors")
	writeFile(t, path, buf.Bytes())
	a := mustLoad(t, path, cfg)
	for s := range p {
		h := make([]float64, hidden)
		for o := range hidden {
			acc := float64(b1[o])
			for i := range kv {
				acc += float64(w1[o*kv+i]) * float64(emb[s*kv+i])
			}
			h[o] = math.Tanh(acc)
		}
		for o := range kv {
			want := float64(b2[o])
			for i := range hidden {
				want += float64(w2[o*hidden+i]) * h[i]
			}
			l, rest := o/(2*cfg.KVDim()), o%(2*cfg.KVDim())
			var got float32
			if rest < cfg.KVDim() {
				got = a.Prefix.Keys[l][s][rest]
			} else {
				got = a.Prefix.Values[l][s][rest-cfg.KVDim()]
			}
			if math.Abs(float64(got)-want) > 1e-5 {
				t.Fatalf("slot %d element %d: %v, want %v", s, o, got, want)
			}
		}
	}
}
