package llm

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"zhiwen/generation/tensor"
)

// TestAdapterRegistry serves adapters from a directory by name, combines
// them by spec, refuses a broken one without affecting the others, and
// reloads a changed file.
func TestAdapterRegistry(t *testing.T) {
	f, m := tinyModel(t, "qwen2", tensor.F32)
	cfg := m.Config()
	dir := t.TempDir()
	law := randomLoRA(t, f, cfg, 4, 8, 21, false, "attn_q", "attn_v")
	style := randomLoRA(t, f, cfg, 4, 8, 22, false, "attn_output")
	if err := os.Rename(law.writePEFT(t, nil), filepath.Join(dir, "law")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(style.writeGGUF(t, "qwen2"), filepath.Join(dir, "style.gguf")); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken")
	if err := os.Rename(law.writePEFT(t, map[string]any{"r": 16}), broken); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an adapter"))

	reg := NewAdapterRegistry(dir, cfg)
	list, err := reg.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, info := range list {
		names = append(names, info.Name)
	}
	if want := []string{"broken", "law", "style"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("listed %v, want %v", names, want)
	}

	set, err := reg.Set("law+style@0.5")
	if err != nil {
		t.Fatal(err)
	}
	again, err := reg.Set("law+style@0.5")
	if err != nil || again != set {
		t.Errorf("second lookup of the same spec built a new set (%v)", err)
	}
	lawA, _ := reg.Get("law")
	styleA, _ := reg.Get("style")
	manual := mustSet(t, cfg, AdapterUse{Adapter: lawA, Scale: 1}, AdapterUse{Adapter: styleA, Scale: 0.5})
	got, want := runTokens(t, m, set), runTokens(t, m, manual)
	if e := relErr(got[3], want[3]); e != 0 {
		t.Errorf("registry set vs manual set: relative error %.3g", e)
	}

	if _, err := reg.Set("broken"); err == nil || !strings.Contains(err.Error(), "lora_A.weight") {
		t.Errorf("broken adapter: error %v, want one naming the tensor", err)
	}
	for _, bad := range []string{"missing", "../law", "law@x"} {
		if _, err := reg.Set(bad); err == nil {
			t.Errorf("spec %q accepted", bad)
		}
	}
	if s, err := reg.Set("law"); err != nil || s == nil {
		t.Fatalf("law after a broken adapter: %v", err)
	}

	// Replace law with a different adapter: the registry reloads it.
	other := randomLoRA(t, f, cfg, 4, 8, 23, false, "attn_k")
	if err := os.RemoveAll(filepath.Join(dir, "law")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other.writePEFT(t, nil), filepath.Join(dir, "law")); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "law", "adapter_model.safetensors"), later, later)
	reloaded, err := reg.Get("law")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reloaded.LoRA["blk.0.attn_k.weight"]; !ok || reloaded == lawA {
		t.Errorf("changed adapter was not reloaded: %s", reloaded.Describe())
	}

	for _, tc := range []struct{ model, base, adapters string }{
		{"qwen2.5-0.5b", "qwen2.5-0.5b", ""},
		{"qwen2.5:0.5b+law", "qwen2.5:0.5b", "law"},
		{"m+law+style@0.5", "m", "law+style@0.5"},
	} {
		if b, a := SplitModelName(tc.model); b != tc.base || a != tc.adapters {
			t.Errorf("SplitModelName(%q) = %q, %q", tc.model, b, a)
		}
	}
}

// TestGenerateWithAdapters: GenerateOptions.Adapters selects the adapter
// per call over one loaded model, and a reused cache switches cleanly.
func TestGenerateWithAdapters(t *testing.T) {
	f, m := tinyModel(t, "qwen2", tensor.F32)
	cfg := m.Config()
	l := randomLoRA(t, f, cfg, 8, 64, 31, false)
	set := mustSet(t, cfg, AdapterUse{Adapter: mustLoad(t, l.writePEFT(t, nil), cfg), Scale: 1})
	gen := func(opts GenerateOptions) []int {
		opts.MaxTokens = 8
		var ids []int
		for tok, err := range Generate(context.Background(), m, byteDetok{}, adapterTokens[:4], opts) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tok.ID)
		}
		return ids
	}
	base := gen(GenerateOptions{})
	adapted := gen(GenerateOptions{Adapters: set})
	if reflect.DeepEqual(base, adapted) {
		t.Fatalf("the adapter did not change the greedy continuation %v", base)
	}
	// Manually: greedy decoding with the set installed on a cache.
	cache := m.NewCache(0)
	if err := cache.UseAdapters(set); err != nil {
		t.Fatal(err)
	}
	if got := gen(GenerateOptions{Cache: cache}); !reflect.DeepEqual(got, adapted) {
		t.Errorf("cache with adapters gave %v, GenerateOptions.Adapters gave %v", got, adapted)
	}
	// The same cache reused with another set starts over.
	shared := m.NewCache(0)
	gen(GenerateOptions{Cache: shared, Adapters: set})
	other := mustSet(t, cfg)
	if got := gen(GenerateOptions{Cache: shared, Adapters: other}); !reflect.DeepEqual(got, base) {
		t.Errorf("switching a shared cache to an empty set gave %v, want the base %v", got, base)
	}
}

// TestSaveGGUFLoRARoundTrip converts an rsLoRA PEFT adapter with an
// alpha_pattern to GGUF and checks the reloaded adapter gives the same
// logits.
func TestSaveGGUFLoRARoundTrip(t *testing.T) {
	f, m := tinyModel(t, "qwen2", tensor.F32)
	cfg := m.Config()
	l := randomLoRA(t, f, cfg, 4, 8, 41, false, "attn_q", "ffn_up")
	peft := mustLoad(t, l.writePEFT(t, map[string]any{"r": 4, "use_rslora": true, "alpha_pattern": map[string]float64{"up_proj": 3}}), cfg)
	path := filepath.Join(t.TempDir(), "converted.gguf")
	if err := SaveGGUFLoRA(context.Background(), path, cfg.Arch, peft); err != nil {
		t.Fatal(err)
	}
	conv := mustLoad(t, path, cfg)
	if conv.Format != "gguf" || len(conv.LoRA) != len(peft.LoRA) {
		t.Fatalf("reloaded %s", conv.Describe())
	}
	want := runTokens(t, m, mustSet(t, cfg, AdapterUse{Adapter: peft, Scale: 1}))
	got := runTokens(t, m, mustSet(t, cfg, AdapterUse{Adapter: conv, Scale: 1}))
	for i := range got {
		if e := relErr(got[i], want[i]); e > 1e-6 {
			t.Errorf("position %d: relative error %.3g after the GGUF round trip", 4+i, e)
		}
	}
}
