package generation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
)

// peftModule is a Hugging Face Qwen2 module a test LoRA changes, with its
// weight's output and input widths for a base of shape cfg.
type peftModule struct {
	path     string
	out, in  int
	llamaCpp string
}

func peftModules(cfg llm.Config) []peftModule {
	q := cfg.Heads * cfg.HeadDim
	return []peftModule{
		{"self_attn.q_proj", q, cfg.Hidden, "attn_q"},
		{"self_attn.v_proj", cfg.KVDim(), cfg.Hidden, "attn_v"},
		{"self_attn.o_proj", cfg.Hidden, q, "attn_output"},
		{"mlp.down_proj", cfg.Hidden, cfg.FFN, "ffn_down"},
	}
}

// writePEFTLoRA writes a random rank-r PEFT LoRA for a Qwen2 base of shape
// cfg as the directory dir. With badInput, layer 0's q_proj lora_A has the
// wrong number of input columns.
func writePEFTLoRA(t testing.TB, dir string, cfg llm.Config, rank int, seed uint64, badInput bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 5))
	randn := func(n int, std float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * std)
		}
		return out
	}
	var ts []gguf.SafeTensor
	for layer := range cfg.Layers {
		for _, m := range peftModules(cfg) {
			stem := fmt.Sprintf("base_model.model.model.layers.%d.%s", layer, m.path)
			in := m.in
			if badInput && layer == 0 && m.llamaCpp == "attn_q" {
				in = m.in / 2
			}
			ts = append(ts,
				gguf.SafeTensor{Name: stem + ".lora_A.weight", DType: gguf.DTypeF32, Shape: []int{rank, in},
					Data: gguf.EncodeFloat32s(randn(rank*in, 1/math.Sqrt(float64(in))))},
				gguf.SafeTensor{Name: stem + ".lora_B.weight", DType: gguf.DTypeF32, Shape: []int{m.out, rank},
					Data: gguf.EncodeFloat32s(randn(m.out*rank, 0.5/math.Sqrt(float64(rank))))})
		}
	}
	var buf bytes.Buffer
	if err := gguf.WriteSafetensors(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err := json.Marshal(map[string]any{
		"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "task_type": "CAUSAL_LM",
		"target_modules": []string{"q_proj", "v_proj", "o_proj", "down_proj"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// adapterBackend opens the tiny model with an adapter directory holding
// "law" and "style" (good LoRAs), "broken" (layer 0's q_proj does not fit)
// and "junk.gguf" (not a model file).
func adapterBackend(t *testing.T) *LocalBackend {
	t.Helper()
	b := openTinyBackend(t, 256)
	cfg := b.Model().Model.Config()
	dir := filepath.Join(t.TempDir(), "adapters")
	writePEFTLoRA(t, filepath.Join(dir, "law"), cfg, 8, 1, false)
	writePEFTLoRA(t, filepath.Join(dir, "style"), cfg, 4, 2, false)
	writePEFTLoRA(t, filepath.Join(dir, "broken"), cfg, 4, 3, true)
	if err := os.WriteFile(filepath.Join(dir, "junk.gguf"), []byte("GGUF\x03\x00\x00\x00 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.ServeAdapters(dir)
	return b
}

func greedyReply(b *LocalBackend, model string) (string, error) {
	var out strings.Builder
	seed := int64(1)
	_, err := b.Chat(context.Background(), ChatRequest{Messages: tinyChat, MaxTokens: 16, Model: model, Seed: &seed}, func(d string) error {
		out.WriteString(d)
		return nil
	})
	return out.String(), err
}

func mustReply(t *testing.T, b *LocalBackend, model string) string {
	t.Helper()
	text, err := greedyReply(b, model)
	if err != nil {
		t.Fatalf("model %q: %v", model, err)
	}
	return text
}

// TestLocalBackendAdaptersPerRequest: requests with different adapters,
// run concurrently over one loaded base, each get their own adapter's
// output, and the adapter-free output is unchanged.
func TestLocalBackendAdaptersPerRequest(t *testing.T) {
	b := adapterBackend(t)
	base := mustReply(t, b, "")
	law := mustReply(t, b, "+law")
	style := mustReply(t, b, "tiny.gguf+style")
	if law == base || style == base || law == style {
		t.Fatalf("adapters did not change the greedy reply: base %q, law %q, style %q", base, law, style)
	}
	// Equivalent spellings of the same selection give the same reply; a
	// LoRA at scale 0 is the base model.
	for model, want := range map[string]string{
		"local:tiny.gguf+law": law, "tiny+law@1": law, "some-client-model": base,
		"+law@0": base, "+law@0+style": style,
	} {
		if got := mustReply(t, b, model); got != want {
			t.Errorf("model %q: reply %q, want %q", model, got, want)
		}
	}

	models := []string{"", "+law", "+style", "+law", "", "+style"}
	want := map[string]string{"": base, "+law": law, "+style": style}
	got := make([]string, len(models))
	errs := make([]error, len(models))
	var wg sync.WaitGroup
	for i, m := range models {
		wg.Go(func() { got[i], errs[i] = greedyReply(b, m) })
	}
	wg.Wait()
	for i, m := range models {
		if errs[i] != nil {
			t.Errorf("concurrent request %d (%q): %v", i, m, errs[i])
		} else if got[i] != want[m] {
			t.Errorf("concurrent request %d (%q): reply %q, want %q", i, m, got[i], want[m])
		}
	}
}

// TestLocalBackendBadAdapters: a bad selection fails only its own request
// with ErrBadModel naming the cause, and the next requests still work.
func TestLocalBackendBadAdapters(t *testing.T) {
	b := adapterBackend(t)
	base := mustReply(t, b, "")
	law := mustReply(t, b, "+law")
	tests := []struct {
		model string
		want  []string // substrings of the error
	}{
		{"+broken", []string{"adapters/broken", "tensor blk.0.attn_q.weight.lora_a", "32 input columns"}},
		{"+junk", []string{"junk.gguf"}},
		{"+nope", []string{`"nope" not found`}},
		{"+law@strong", []string{`bad scale "strong"`}},
		{"other-model+law", []string{"other-model+law", "local:tiny.gguf"}},
		{"+law+broken", []string{"broken"}},
	}
	for _, tt := range tests {
		_, err := greedyReply(b, tt.model)
		if err == nil {
			t.Errorf("model %q: no error", tt.model)
			continue
		}
		if !errors.Is(err, ErrBadModel) || !errors.Is(err, ErrBadRequest) {
			t.Errorf("model %q: error %v is not ErrBadModel", tt.model, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("model %q: error %q lacks %q", tt.model, err, w)
			}
		}
		if err := b.CheckModel(tt.model); !errors.Is(err, ErrBadModel) {
			t.Errorf("CheckModel(%q) = %v, want ErrBadModel", tt.model, err)
		}
		// The service goes on serving.
		if got := mustReply(t, b, ""); got != base {
			t.Errorf("after %q: base reply %q, want %q", tt.model, got, base)
		}
		if got := mustReply(t, b, "+law"); got != law {
			t.Errorf("after %q: law reply %q, want %q", tt.model, got, law)
		}
	}
}

func TestLocalBackendAdapterList(t *testing.T) {
	b := adapterBackend(t)
	list, err := b.Adapters()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]AdapterInfo{}
	var names []string
	for _, a := range list {
		byName[a.Name] = a
		names = append(names, a.Name)
	}
	if want := []string{"broken", "junk", "law", "style"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("adapters %v, want %v", names, want)
	}
	law := byName["law"]
	if law.Kind != "lora" || law.Format != "peft" || law.Rank != 8 || law.Error != "" ||
		!reflect.DeepEqual(law.Targets, []string{"attn_output", "attn_q", "attn_v", "ffn_down"}) {
		t.Errorf("law: %+v", law)
	}
	if byName["style"].Rank != 4 {
		t.Errorf("style: %+v", byName["style"])
	}
	for _, bad := range []string{"broken", "junk"} {
		if byName[bad].Error == "" {
			t.Errorf("%s listed as usable: %+v", bad, byName[bad])
		}
	}
	// Without an adapter directory, adapters are refused and none are listed.
	plain := openTinyBackend(t, 256)
	if list, err := plain.Adapters(); err != nil || len(list) != 0 {
		t.Errorf("no registry: Adapters() = %v, %v", list, err)
	}
	if _, err := greedyReply(plain, "+law"); !errors.Is(err, ErrBadModel) {
		t.Errorf("no registry: +law gave %v", err)
	}
}

// TestLocalBackendAdapterCache: requests with adapters keep their own
// cache, so the base model's cached prompt survives them and an adapter
// request that repeats a prompt reuses its own cache.
func TestLocalBackendAdapterCache(t *testing.T) {
	b := adapterBackend(t)
	ids := b.EncodeChat(tinyChat)
	mustReply(t, b, "")
	mustReply(t, b, "+law")
	mustReply(t, b, "+style")
	cache := <-b.slot
	baseTokens, baseSet := append([]int(nil), cache.Tokens()...), cache.Adapters()
	b.slot <- cache
	if baseSet != nil || sharedPrefix(baseTokens, ids) != len(ids) {
		t.Errorf("base cache: adapters %v, holds %d of the prompt's %d tokens", baseSet, sharedPrefix(baseTokens, ids), len(ids))
	}
	if got := b.adapterCache.Adapters(); got == nil || got.Name() != "style" {
		t.Errorf("adapter cache runs %v, want style", got)
	}
	if n := sharedPrefix(b.adapterCache.Tokens(), ids); n != len(ids) {
		t.Errorf("adapter cache holds %d of the prompt's %d tokens", n, len(ids))
	}
}
