package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zhiwen/generation"
	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tensor"
)

// saveTestLoRA writes a random LoRA over the given weights of every layer
// as a GGUF adapter at path and returns it as loaded for cfg.
func saveTestLoRA(t *testing.T, path string, cfg llm.Config, rank int, seed uint64, weights ...string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 17))
	randm := func(rows, cols int, std float64) *tensor.Matrix {
		data := make([]float32, rows*cols)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * std)
		}
		m, err := tensor.NewF32Matrix(rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	shapes := map[string][2]int{ // rows, cols
		"attn_q": {cfg.Heads * cfg.HeadDim, cfg.Hidden}, "attn_v": {cfg.KVDim(), cfg.Hidden},
		"ffn_up": {cfg.FFN, cfg.Hidden}, "ffn_down": {cfg.Hidden, cfg.FFN},
	}
	a := &llm.Adapter{Name: strings.TrimSuffix(filepath.Base(path), ".gguf"), Kind: llm.AdapterLoRA, Format: "peft", LoRA: map[string]*llm.LoRAWeight{}}
	for layer := range cfg.Layers {
		for _, w := range weights {
			s := shapes[w]
			a.LoRA[fmt.Sprintf("blk.%d.%s.weight", layer, w)] = &llm.LoRAWeight{
				A: randm(rank, s[1], 1/math.Sqrt(float64(s[1]))), B: randm(s[0], rank, 0.5/math.Sqrt(float64(rank))), Scale: 2, Rank: rank,
			}
		}
	}
	if err := llm.SaveGGUFLoRA(context.Background(), path, cfg.Arch, a); err != nil {
		t.Fatal(err)
	}
}

// logitsOf runs tokens through the model file at path (with set installed
// when not nil) and returns every position's logits.
func logitsOf(t *testing.T, path string, set func(llm.Config) *llm.AdapterSet, tokens []int) [][]float32 {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	net, err := llm.LoadNetwork(f, llm.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := net.(llm.Model)
	cache := m.NewCache(64)
	if set != nil {
		if err := cache.UseAdapters(set(m.Config())); err != nil {
			t.Fatal(err)
		}
	}
	var out [][]float32
	for i, tok := range tokens {
		logits, err := m.Forward(context.Background(), []int{tok}, i, cache)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(logits)) // Forward reuses its buffer
	}
	return out
}

func maxRelErr(got, want [][]float32) float64 {
	worst := 0.0
	for i := range want {
		var num, den float64
		for j := range want[i] {
			d := float64(got[i][j] - want[i][j])
			num += d * d
			den += float64(want[i][j]) * float64(want[i][j])
		}
		worst = max(worst, math.Sqrt(num/den))
	}
	return worst
}

// TestMergeCommand: `zhiwen merge` folds two LoRA adapters (one from the
// adapter directory by name with a scale, one by path) into the weights,
// and the merged model's logits match the unmerged adapters applied at
// inference, within the storage type's rounding.
func TestMergeCommand(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("ZHIWEN_HOME", home)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.gguf")
	shape := llm.Shape{Arch: "qwen2", Vocab: 300, Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, ContextLen: 128, RopeBase: 10000}
	if err := llm.SynthesizeQwen2(ctx, base, shape, llm.MixF32, 5); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	net, err := llm.LoadNetwork(f, llm.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := net.Config()
	f.Close()
	if err := os.MkdirAll(filepath.Join(home, "adapters"), 0o755); err != nil {
		t.Fatal(err)
	}
	law := filepath.Join(home, "adapters", "law.gguf")
	saveTestLoRA(t, law, cfg, 8, 1, "attn_q", "attn_v", "ffn_down")
	style := filepath.Join(dir, "style.gguf")
	saveTestLoRA(t, style, cfg, 4, 2, "attn_q", "ffn_up")

	// adapters list describes what is in the directory.
	code, stdout, stderr := runCLI(t, "", "adapters", "list", "--model", base, "--json")
	if code != 0 {
		t.Fatalf("adapters list: exit %d: %s", code, stderr)
	}
	var list []generation.AdapterInfo
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("adapters list --json: %v: %s", err, stdout)
	}
	if len(list) != 1 || list[0].Name != "law" || list[0].Kind != "lora" || list[0].Format != "gguf" || list[0].Rank != 8 ||
		strings.Join(list[0].Targets, ",") != "attn_q,attn_v,ffn_down" || list[0].Path != law {
		t.Errorf("adapters list: %+v", list)
	}
	if code, stdout, _ := runCLI(t, "", "adapters", "list", "--model", base); code != 0 || !strings.Contains(stdout, "law") || !strings.Contains(stdout, "attn_q,attn_v,ffn_down") {
		t.Errorf("adapters list table (exit %d):\n%s", code, stdout)
	}

	unmerged := func(c llm.Config) *llm.AdapterSet {
		la, err := llm.LoadAdapter(law, c)
		if err != nil {
			t.Fatal(err)
		}
		st, err := llm.LoadAdapter(style, c)
		if err != nil {
			t.Fatal(err)
		}
		set, err := llm.NewAdapterSet(c, llm.AdapterUse{Adapter: la, Scale: 0.5}, llm.AdapterUse{Adapter: st, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	tokens := []int{1, 17, 42, 250, 9, 130, 77, 3}
	want := logitsOf(t, base, unmerged, tokens)
	plain := logitsOf(t, base, nil, tokens)
	effect := maxRelErr(plain, want)
	if effect < 0.2 {
		t.Fatalf("the adapters barely change the logits (%.3g); the test would prove nothing", effect)
	}
	for _, tt := range []struct {
		typ string
		tol float64
	}{{"f16", 2e-3}, {"q8_0", 4e-2}} {
		out := filepath.Join(dir, "merged-"+tt.typ+".gguf")
		code, _, stderr := runCLI(t, "", "merge", "--model", base, "--adapter", "law@0.5", "--adapter", style, "--type", tt.typ, out)
		if code != 0 {
			t.Fatalf("merge %s: exit %d: %s", tt.typ, code, stderr)
		}
		if !strings.Contains(stderr, "law+style") {
			t.Errorf("merge %s: no summary in %q", tt.typ, stderr)
		}
		got := logitsOf(t, out, nil, tokens)
		if e := maxRelErr(got, want); e > tt.tol {
			t.Errorf("merge %s: merged logits differ from the unmerged adapters by %.3g (> %.g)", tt.typ, e, tt.tol)
		}
		t.Logf("merge %s: logits within %.3g of unmerged (the adapters' own effect: %.3g)", tt.typ, maxRelErr(got, want), effect)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"merge", "--model", base, "--adapter", "nope", filepath.Join(dir, "x.gguf")}, 1, `"nope" not found`},
		{[]string{"merge", "--model", base, "--adapter", "law@big", filepath.Join(dir, "x.gguf")}, 2, `bad scale "big"`},
		{[]string{"merge", "--model", base, filepath.Join(dir, "x.gguf")}, 2, "--adapter is required"},
		{[]string{"merge", "--model", base, "--adapter", "law", "--type", "q3_k", filepath.Join(dir, "x.gguf")}, 2, "unknown --type"},
	} {
		code, _, stderr := runCLI(t, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want exit %d naming %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// TestRunWithAdapter runs the tiny chat model greedily with and without a
// registered LoRA: the adapter must change the reply, and an unknown
// adapter must be refused before generating.
func TestRunWithAdapter(t *testing.T) {
	home := t.TempDir()
	t.Setenv("ZHIWEN_HOME", home)
	model := tinyChatModel(t)
	f, err := gguf.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	net, err := llm.LoadNetwork(f, llm.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := net.Config()
	f.Close()
	if err := os.MkdirAll(filepath.Join(home, "adapters"), 0o755); err != nil {
		t.Fatal(err)
	}
	saveTestLoRA(t, filepath.Join(home, "adapters", "law.gguf"), cfg, 8, 3, "attn_q", "attn_v", "ffn_up", "ffn_down")
	reply := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, "", append([]string{"run", "--model", model, "--prompt", "年假有几天？", "-n", "12", "--temp", "0", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("run %v: exit %d: %s", args, code, stderr)
		}
		var r struct{ Text string }
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		return r.Text
	}
	base, withLaw, again := reply(), reply("--adapter", "law"), reply()
	if base == withLaw {
		t.Errorf("the adapter did not change the greedy reply %q", base)
	}
	if base != again {
		t.Errorf("the base reply changed after using an adapter: %q then %q", base, again)
	}
	if code, _, stderr := runCLI(t, "", "run", "--model", model, "--prompt", "x", "--adapter", "nope"); code == 0 || !strings.Contains(stderr, "nope") {
		t.Errorf("unknown adapter: exit %d, %s", code, stderr)
	}
}
