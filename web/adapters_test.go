package web

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zhiwen/generation"
	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tensor"
	"zhiwen/retrieval"
)

// writeTinyChatModel synthesizes a small random qwen2 model with a
// byte-level vocabulary (the 256 byte tokens and the ChatML control
// tokens) and a ChatML template, so the local backend can chat with it.
func writeTinyChatModel(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var tokens []string
	var types []int32
	n := 0
	for b := range 256 { // GPT-2's byte-to-unicode table
		r := rune(b)
		if !((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
			r = rune(256 + n)
			n++
		}
		tokens, types = append(tokens, string(r)), append(types, 1)
	}
	for _, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		tokens, types = append(tokens, s), append(types, 3)
	}
	raw := filepath.Join(dir, "raw.gguf")
	shape := llm.Shape{Arch: "qwen2", Vocab: len(tokens), Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, ContextLen: 2048, RopeBase: 10000}
	if err := llm.SynthesizeQwen2(ctx, raw, shape, llm.MixQ8_0, 11); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(dir, "tiny.gguf")
	err = gguf.WithMetadata(ctx, f, out, map[string]any{
		"tokenizer.ggml.model":         "gpt2",
		"tokenizer.ggml.pre":           "qwen2",
		"tokenizer.ggml.tokens":        tokens,
		"tokenizer.ggml.token_type":    types,
		"tokenizer.ggml.merges":        []string{},
		"tokenizer.ggml.eos_token_id":  uint32(len(tokens) - 1),
		"tokenizer.ggml.add_bos_token": false,
		"tokenizer.chat_template":      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}{% endfor %}",
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeGGUFLoRA writes a random LoRA on every layer's attn_q and attn_v as
// a llama.cpp GGUF adapter. With cols ≠ the model's width it does not fit.
func writeGGUFLoRA(t *testing.T, path string, cfg llm.Config, rank, cols int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
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
	a := &llm.Adapter{Name: filepath.Base(path), Kind: llm.AdapterLoRA, Format: "peft", LoRA: map[string]*llm.LoRAWeight{}}
	for layer := range cfg.Layers {
		for weight, rows := range map[string]int{"attn_q": cfg.Heads * cfg.HeadDim, "attn_v": cfg.KVDim()} {
			a.LoRA["blk."+string(rune('0'+layer))+"."+weight+".weight"] = &llm.LoRAWeight{
				A: randm(rank, cols, 1/math.Sqrt(float64(cols))), B: randm(rows, rank, 0.6/math.Sqrt(float64(rank))), Scale: 2, Rank: rank,
			}
		}
	}
	if err := llm.SaveGGUFLoRA(context.Background(), path, cfg.Arch, a); err != nil {
		t.Fatal(err)
	}
}

// TestAdapterModels runs the server over the local backend with an adapter
// directory: /v1/models lists base+adapter, and completions and native
// chat select adapters by model name, by field, and by the knowledge
// base's default, with bad adapters answered 400 before any stream.
func TestAdapterModels(t *testing.T) {
	ctx := context.Background()
	backend, err := generation.OpenLocalBackend(writeTinyChatModel(t), llm.LoadOptions{ContextLen: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	cfg := backend.Model().Model.Config()
	adapters := filepath.Join(t.TempDir(), "adapters")
	if err := os.MkdirAll(adapters, 0o755); err != nil {
		t.Fatal(err)
	}
	writeGGUFLoRA(t, filepath.Join(adapters, "law.gguf"), cfg, 8, cfg.Hidden, 1)
	writeGGUFLoRA(t, filepath.Join(adapters, "broken.gguf"), cfg, 8, cfg.Hidden/2, 2)
	backend.ServeAdapters(adapters)

	store, err := retrieval.Open(filepath.Join(t.TempDir(), "store"), retrieval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.CreateKB(ctx, retrieval.KBConfig{Name: "kb1"}); err != nil {
		t.Fatal(err)
	}
	svc := &generation.Service{Retriever: store, Backend: backend, AnswerTokens: 12}
	srv := httptest.NewServer(New(Config{Store: store, Answers: svc, Version: "test"}).Handler())
	t.Cleanup(srv.Close)
	ts := &testServer{Server: srv, store: store, svc: svc}

	var models struct {
		Data []struct{ ID string } `json:"data"`
	}
	if code := ts.call(t, "GET", "/v1/models", nil, &models); code != 200 {
		t.Fatalf("models: %d", code)
	}
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if want := []string{"local:tiny.gguf", "local:tiny.gguf+law", "kb:kb1"}; !slices.Equal(ids, want) {
		t.Fatalf("models %q, want %q (broken must not be listed)", ids, want)
	}

	question := []map[string]string{{"role": "user", "content": "What is in the handbook?"}}
	complete := func(body map[string]any) (int, string, apiError) {
		t.Helper()
		body["messages"] = question
		var out struct {
			chatCompletion
			apiError
		}
		code := ts.call(t, "POST", "/v1/chat/completions", body, &out)
		if code != 200 {
			return code, "", out.apiError
		}
		return code, out.Choices[0].Message.Content, out.apiError
	}
	mustComplete := func(body map[string]any) string {
		t.Helper()
		code, text, e := complete(body)
		if code != 200 {
			t.Fatalf("completion %v: %d %+v", body, code, e)
		}
		return text
	}
	base := mustComplete(map[string]any{"model": "kb:kb1"})
	law := mustComplete(map[string]any{"model": "local:tiny.gguf+law", "kb": "kb1"})
	if base == law {
		t.Fatalf("the adapter did not change the reply %q", base)
	}
	for _, body := range []map[string]any{
		{"model": "kb:kb1", "adapter": "law"},
		{"model": "+law", "kb": "kb1"},
		{"model": "gpt-4o", "kb": "kb1", "adapter": "law"},
	} {
		if got := mustComplete(body); got != law {
			t.Errorf("completion %v: %q, want the law reply %q", body, got, law)
		}
	}
	// Native chat selects by model too.
	var ans generation.Answer
	if code := ts.call(t, "POST", "/api/chat", map[string]any{"kb": "kb1", "question": question[0]["content"], "model": "+law"}, &ans); code != 200 || ans.Text != strings.TrimSpace(law) {
		t.Errorf("native chat with +law: %d %q, want %q", code, ans.Text, law)
	}

	// The knowledge base's default adapter applies unless the request names
	// the bare base model.
	var kb retrieval.KBInfo
	if code := ts.call(t, "PATCH", "/api/kbs/kb1", map[string]any{"default_adapter": "law"}, &kb); code != 200 || kb.DefaultAdapter != "law" {
		t.Fatalf("set default adapter: %d %+v", code, kb)
	}
	if got := mustComplete(map[string]any{"model": "kb:kb1"}); got != law {
		t.Errorf("kb default adapter: %q, want %q", got, law)
	}
	if got := mustComplete(map[string]any{"model": "local:tiny.gguf", "kb": "kb1"}); got != base {
		t.Errorf("explicit base model: %q, want %q", got, base)
	}
	if code := ts.call(t, "POST", "/api/chat", map[string]any{"kb": "kb1", "question": question[0]["content"]}, &ans); code != 200 || ans.Text != strings.TrimSpace(law) {
		t.Errorf("native chat with the kb default: %d %q, want %q", code, ans.Text, law)
	}

	// Bad selections are 400s naming the cause, streamed or not, and the
	// server keeps answering.
	for _, tt := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"model": "+broken", "kb": "kb1", "stream": true}, "blk.0.attn_q.weight.lora_a"},
		{map[string]any{"model": "kb:kb1", "adapter": "nope"}, `"nope" not found`},
		{map[string]any{"model": "other+law", "kb": "kb1"}, "local:tiny.gguf"},
	} {
		code, _, e := complete(tt.body)
		if code != 400 || e.Error.Code != "bad_model" || !strings.Contains(e.Error.Message, tt.want) {
			t.Errorf("completion %v: %d %+v, want 400 bad_model naming %q", tt.body, code, e, tt.want)
		}
	}
	if got := mustComplete(map[string]any{"model": "local:tiny.gguf", "kb": "kb1"}); got != base {
		t.Errorf("after bad requests: %q, want %q", got, base)
	}
}

// TestAdaptersWithoutModel: extractive answers refuse an explicit adapter
// with a 400 and ignore a knowledge base's default adapter.
func TestAdaptersWithoutModel(t *testing.T) {
	ts := newTestServer(t, 0)
	if code := ts.call(t, "POST", "/api/kbs", map[string]string{"name": "kb1", "default_adapter": "law"}, nil); code != 201 && code != 200 {
		t.Fatalf("create kb: %d", code)
	}
	question := []map[string]string{{"role": "user", "content": "hi"}}
	for _, tt := range []struct {
		body map[string]any
		code int
	}{
		{map[string]any{"model": "kb:kb1", "messages": question}, 200},
		{map[string]any{"model": "kb:kb1", "adapter": "law", "messages": question}, 400},
		{map[string]any{"model": "+law", "kb": "kb1", "messages": question, "stream": true}, 400},
	} {
		var e apiError
		code := ts.call(t, "POST", "/v1/chat/completions", tt.body, &e)
		if code != tt.code || (code == 400 && e.Error.Code != "bad_model") {
			t.Errorf("%v: %d %+v, want %d", tt.body, code, e, tt.code)
		}
	}
}
