package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tensor"
)

// TestEmbeddingModelKnowledgeBase configures a (tiny, random) BERT GGUF as
// the embedding model and checks that new knowledge bases embed with it
// through the real loading code, while the hash embedder stays available.
func TestEmbeddingModelKnowledgeBase(t *testing.T) {
	home := t.TempDir()
	t.Setenv("ZHIWEN_HOME", home)
	model := filepath.Join(t.TempDir(), "tiny-bert.gguf")
	shape := llm.Shape{Arch: "bert", Vocab: 512, Hidden: 64, Layers: 2, Heads: 4, KVHeads: 4, FFN: 128, ContextLen: 512}
	raw := filepath.Join(t.TempDir(), "raw.gguf")
	if err := llm.SynthesizeModel(context.Background(), raw, shape, llm.QuantMix{Name: "F32", Base: tensor.F32}, 7); err != nil {
		t.Fatal(err)
	}
	addWordPieceVocab(t, raw, model, "第一条差旅住宿标准按城市等级执行二市内交通费每日上限百十元。", shape.Vocab)
	cfg, _ := json.Marshal(map[string]any{"embedding_model": model})
	if err := os.WriteFile(filepath.Join(home, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(doc, []byte("第一条 差旅住宿标准按城市等级执行。\n\n第二条 市内交通费每日上限一百二十元。"), 0o644)

	cli := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("zhiwen %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	cli("kb", "create", "model-kb")
	cli("kb", "create", "--embedder", "hash-ngram-v2-512", "hash-kb")
	var kbs []struct {
		Name     string `json:"name"`
		Embedder string `json:"embedder"`
	}
	if err := json.Unmarshal([]byte(cli("kb", "list", "--json")), &kbs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kb := range kbs {
		got[kb.Name] = kb.Embedder
	}
	if got["model-kb"] != "tiny-bert" || got["hash-kb"] != "hash-ngram-v2-512" {
		t.Fatalf("embedders: %v", got)
	}
	for _, kb := range []string{"model-kb", "hash-kb"} {
		cli("ingest", "--kb", kb, doc)
		var hits []struct {
			DenseRank int `json:"dense_rank"`
		}
		if err := json.Unmarshal([]byte(cli("search", "--kb", kb, "--mode", "dense", "--json", "交通费上限")), &hits); err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].DenseRank != 1 {
			t.Fatalf("%s: dense search returned %+v", kb, hits)
		}
	}
}

// addWordPieceVocab copies the GGUF at src to dst with a BERT WordPiece
// vocabulary (llama.cpp's spelling: "▁" marks a word start) of size n made
// of the special tokens and the characters of chars.
func addWordPieceVocab(t *testing.T, src, dst, chars string, n int) {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tokens := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	types := []int32{3, 2, 3, 3, 3}
	for _, r := range chars {
		tokens = append(tokens, "▁"+string(r), string(r))
		types = append(types, 1, 1)
	}
	for i := len(tokens); i < n; i++ {
		tokens = append(tokens, "[unused"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+"]")
		types = append(types, 5)
	}
	tokens, types = tokens[:n], types[:n]
	err = gguf.WithMetadata(context.Background(), f, dst, map[string]any{
		"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
		"tokenizer.ggml.unknown_token_id": uint32(1), "tokenizer.ggml.cls_token_id": uint32(2),
		"tokenizer.ggml.seperator_token_id": uint32(3), "tokenizer.ggml.padding_token_id": uint32(0),
	})
	if err != nil {
		t.Fatal(err)
	}
}
