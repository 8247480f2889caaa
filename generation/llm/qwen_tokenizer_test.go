package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"zhiwen/generation/tokenizer"
)

// qwenTokenizerKV converts the real Qwen2.5 tokenizer.json into GGUF
// tokenizer metadata the way llama.cpp's converter lays it out.
func qwenTokenizerKV(t *testing.T, vocab int) []kvPair {
	t.Helper()
	raw, err := os.ReadFile(testdataPath(t, "tokenizer", "qwen2.5", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab  map[string]int `json:"vocab"`
			Merges []string       `json:"merges"`
		} `json:"model"`
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(raw, &tj); err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, vocab)
	types := make([]int32, vocab)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("[PAD%d]", i)
		types[i] = tokenizer.TypeUnused
	}
	for tok, id := range tj.Model.Vocab {
		tokens[id], types[id] = tok, tokenizer.TypeNormal
	}
	for _, a := range tj.Added {
		tokens[a.ID], types[a.ID] = a.Content, tokenizer.TypeUserDefined
		if a.Special {
			types[a.ID] = tokenizer.TypeControl
		}
	}
	return []kvPair{
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", "qwen2"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.merges", tj.Model.Merges},
		{"tokenizer.ggml.eos_token_id", uint32(151645)},
		{"tokenizer.ggml.padding_token_id", uint32(151643)},
		{"tokenizer.ggml.bos_token_id", uint32(151643)},
		{"tokenizer.ggml.add_bos_token", false},
		{"tokenizer.chat_template", "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"},
	}
}

// TestLoadQwenTokenizer loads a tiny qwen2 model carrying the real Qwen2.5
// vocabulary as GGUF metadata, checks the tokenizer against llama.cpp's
// expected ids, and chats with it.
func TestLoadQwenTokenizer(t *testing.T) {
	s := tinyShape("qwen2")
	s.Vocab = 151936
	s.Hidden, s.FFN, s.Heads, s.KVHeads, s.Layers = 64, 128, 2, 1, 1
	path := writeWithTokenizer(t, s, qwenTokenizerKV(t, s.Vocab))
	l, err := Load(path, LoadOptions{ContextLen: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	inp, err := os.ReadFile(testdataPath(t, "tokenizer", "cases", "common.inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(testdataPath(t, "tokenizer", "cases", "qwen2.out"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(texts) < len(want) {
		t.Fatalf("%d texts for %d expected lines", len(texts), len(want))
	}
	bad := 0
	for i, line := range want {
		ids := l.Tokenizer.Encode(texts[i], tokenizer.EncodeOptions{})
		got := strings.TrimSpace(strings.Trim(fmt.Sprint(ids), "[]"))
		if got != strings.TrimSpace(line) {
			bad++
			t.Errorf("case %d %q: got %s, want %s", i, texts[i], got, line)
		}
	}
	t.Logf("%d/%d tokenizer cases match", len(want)-bad, len(want))

	if l.Template.Kind != TemplateChatML || !l.Tokenizer.IsEOG(151645) {
		t.Fatalf("template %s, <|im_end|> EOG %v", l.Template.Name(), l.Tokenizer.IsEOG(151645))
	}
	prompt := l.Template.Render([]Message{{Role: "user", Content: "你好"}}, true)
	ids := l.Tokenizer.Encode(prompt, tokenizer.EncodeOptions{AddSpecial: true, ParseSpecial: true})
	if ids[0] != 151644 || ids[len(ids)-1] != 198 {
		t.Fatalf("chat prompt ids %v: want <|im_start|> first and a final newline", ids)
	}
	n := 0
	for tok, err := range l.Chat(context.Background(), []Message{{Role: "user", Content: "你好"}}, GenerateOptions{MaxTokens: 5, Sampler: SamplerOptions{Temperature: 0.8, Seed: 1}}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if tok.Stop != "" {
			break
		}
	}
	if n == 0 {
		t.Fatal("no tokens generated")
	}
}
