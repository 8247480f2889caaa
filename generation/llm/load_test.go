package llm

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"zhiwen/generation/tensor"
	"zhiwen/generation/tokenizer"
)

// writeWithTokenizer synthesizes a model of arch with tokenizer metadata.
func writeWithTokenizer(t *testing.T, s Shape, tok []kvPair) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), s.Arch+".gguf")
	if err := synthesize(context.Background(), path, s, MixQ8_0, 5, tok); err != nil {
		t.Fatal(err)
	}
	return path
}

// vocabKV is tokenizer metadata for a vocabulary padded to n tokens.
func vocabKV(model string, words []string, n int, extra ...kvPair) []kvPair {
	tokens := make([]string, n)
	types := make([]int32, n)
	scores := make([]float32, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("[unused%d]", i)
		types[i] = tokenizer.TypeUnused
		if i < len(words) {
			tokens[i] = words[i]
			types[i] = tokenizer.TypeNormal
			if strings.HasPrefix(words[i], "[") || strings.HasPrefix(words[i], "<") {
				types[i] = tokenizer.TypeControl
			}
		}
		scores[i] = -float32(i)
	}
	return append([]kvPair{
		{"tokenizer.ggml.model", model},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.scores", scores},
	}, extra...)
}

func TestEmbedder(t *testing.T) {
	s := tinyShape("bert")
	s.ContextLen = 8
	words := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁hello", "▁world", "你", "好", "▁a"}
	path := writeWithTokenizer(t, s, vocabKV("bert", words, s.Vocab,
		kvPair{"tokenizer.ggml.unknown_token_id", uint32(1)},
		kvPair{"tokenizer.ggml.bos_token_id", uint32(2)},
		kvPair{"tokenizer.ggml.cls_token_id", uint32(2)},
		kvPair{"tokenizer.ggml.seperator_token_id", uint32(3)},
		kvPair{"tokenizer.ggml.eos_token_id", uint32(3)},
		kvPair{"tokenizer.ggml.padding_token_id", uint32(0)}))
	e, err := OpenEmbedder(path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dim() != s.Hidden || e.Name() != "bert" {
		t.Fatalf("dim %d name %q", e.Dim(), e.Name())
	}
	ctx := context.Background()
	ids := e.loaded.Tokenizer.Encode("hello world", tokenizer.EncodeOptions{AddSpecial: true})
	if fmt.Sprint(ids) != "[2 4 5 3]" {
		t.Fatalf("hello world encodes to %v, want [CLS] hello world [SEP]", ids)
	}
	direct, err := e.loaded.Encoder.Embed(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := e.EmbedDocuments(ctx, []string{"hello world", "你好", strings.Repeat("a ", 20)})
	if err != nil {
		t.Fatal(err)
	}
	if relErr(docs[0], direct) > 1e-6 {
		t.Fatal("EmbedDocuments differs from Encoder.Embed of the same tokens")
	}
	q, err := e.EmbedQuery(ctx, "hello world")
	if err != nil {
		t.Fatal(err)
	}
	if relErr(q, direct) > 1e-6 {
		t.Fatal("EmbedQuery without prefix differs from the document embedding")
	}
	for i, v := range docs {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Errorf("document %d: squared norm %v, want 1", i, ss)
		}
	}
	if relErr(docs[0], docs[1]) < 1e-3 {
		t.Error("different texts gave the same embedding")
	}
	// The 22-token text was truncated to the 8-token context.
	if len(docs[2]) != s.Hidden {
		t.Errorf("long text: %d dims", len(docs[2]))
	}
}

func TestLoadGenerateLlama(t *testing.T) {
	s := tinyShape("llama")
	words := []string{"<unk>", "<s>", "</s>", "▁a", "▁b", "▁c", "▁d"}
	path := writeWithTokenizer(t, s, vocabKV("llama", words, s.Vocab,
		kvPair{"tokenizer.ggml.unknown_token_id", uint32(0)},
		kvPair{"tokenizer.ggml.bos_token_id", uint32(1)},
		kvPair{"tokenizer.ggml.eos_token_id", uint32(2)},
		kvPair{"tokenizer.chat_template", "{{ '<|start_header_id|>' + m.role + '<|end_header_id|>' }}"}))
	l, err := Load(path, LoadOptions{ContextLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Template.Kind != TemplateLlama3 || l.Model.Config().ContextLen != 32 {
		t.Fatalf("template %s, context %d", l.Template.Name(), l.Model.Config().ContextLen)
	}
	ids := l.Tokenizer.Encode("a b c", tokenizer.EncodeOptions{AddSpecial: true})
	if fmt.Sprint(ids) != "[1 3 4 5]" {
		t.Fatalf("encode: %v", ids)
	}
	ctx := context.Background()
	want := greedyByRecompute(t, l.Model, ids, 4)
	var got []int
	for tok, err := range l.Generate(ctx, "a b c", GenerateOptions{MaxTokens: 4}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tok.ID)
		if tok.Stop != "" && tok.Stop != StopLength && tok.Stop != StopEOG {
			t.Fatalf("stop %q", tok.Stop)
		}
	}
	if len(got) == 0 || fmt.Sprint(got) != fmt.Sprint(want[:len(got)]) {
		t.Fatalf("generated %v, want prefix of %v", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		kv   []kvPair
		arch string
		want string
	}{
		{"unknown arch", nil, "gpt-j", "unsupported architecture"},
		{"no tokenizer", nil, "llama", "tokenizer.ggml.model"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tinyShape("llama")
			s.Arch = tc.arch
			path := filepath.Join(dir, tc.name+".gguf")
			if err := synthesize(context.Background(), path, s, MixF32, 1, tc.kv); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err %v, want one naming %s and %q", err, path, tc.want)
			}
		})
	}
}

// TestLoadNetworkMalformed feeds hand-made broken files to the loaders.
func TestLoadNetworkMalformed(t *testing.T) {
	meta := func(b *ggufBuilder, heads, kvHeads uint32) {
		b.kv("general.architecture", "llama")
		b.kv("llama.embedding_length", uint32(32))
		b.kv("llama.block_count", uint32(1))
		b.kv("llama.feed_forward_length", uint32(64))
		b.kv("llama.attention.head_count", heads)
		b.kv("llama.attention.head_count_kv", kvHeads)
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	cases := []struct {
		name  string
		build func(b *ggufBuilder)
		want  string
	}{
		{"missing embedding", func(b *ggufBuilder) { meta(b, 4, 2) }, "token_embd.weight"},
		{"missing block tensor", func(b *ggufBuilder) {
			meta(b, 4, 2)
			b.tensor("token_embd.weight", tensor.F32, 10, 32, ones(320))
			b.tensor("output_norm.weight", tensor.F32, 0, 32, ones(32))
		}, "missing tensor blk.0.attn_norm.weight"},
		{"wrong norm length", func(b *ggufBuilder) {
			meta(b, 4, 2)
			b.tensor("token_embd.weight", tensor.F32, 10, 32, ones(320))
			b.tensor("output_norm.weight", tensor.F32, 0, 16, ones(16))
		}, "output_norm.weight has shape"},
		{"heads not divisible", func(b *ggufBuilder) { meta(b, 4, 3) }, "not divisible"},
		{"missing metadata", func(b *ggufBuilder) { b.kv("general.architecture", "qwen2") }, "missing metadata qwen2.embedding_length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newGGUFBuilder(t)
			tc.build(b)
			f := b.open()
			_, err := LoadNetwork(f, LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f.Name) {
				t.Fatalf("err %v, want one naming %s and %q", err, f.Name, tc.want)
			}
		})
	}
}
