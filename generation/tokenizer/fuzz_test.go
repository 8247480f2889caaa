package tokenizer

import (
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// FuzzRoundTrip checks on arbitrary bytes (invalid UTF-8 included) that
// encoding never panics and decoding restores the input exactly: for Qwen2
// up to NFC normalization (its tokenizer.json asks for NFC), for Llama-2
// byte for byte. Run with go test -fuzz FuzzRoundTrip; plain go test runs
// the seeds.
func FuzzRoundTrip(f *testing.F) {
	qwen := qwenTokenizer(f)
	llama := llamaTokenizer(f)
	for _, seed := range []string{"", " ", "Hello, world!", "e\u0301 café", "\xff\xfe abc \xe4\xbd", "<|im_start|>你好<|im_end|>",
		"  \n\n\t x  ", "'S 'll 123456", "ឃ្លាំ 🚀 ✅", "<s> </s> <unk>", "a\u00a0b\u3000c"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, opt := range []EncodeOptions{{}, {ParseSpecial: true}} {
			ids := qwen.Encode(s, opt)
			if got, want := qwen.Decode(ids), norm.NFC.String(s); got != want && norm.NFC.String(got) != want {
				t.Errorf("qwen %+v: Decode(Encode(%q)) = %q", opt, s, got)
			}
			ids = llama.Encode(s, opt)
			if got := llama.Decode(ids); got != s {
				t.Errorf("llama %+v: Decode(Encode(%q)) = %q", opt, s, got)
			}
		}
	})
}

// FuzzLoaders feeds corrupt model files to the parsers: they must return an
// error or a working tokenizer, never panic (a recovered panic is reported
// as "malformed input" and counts as a failure here).
func FuzzLoaders(f *testing.F) {
	f.Add(unigramModel([]spPiece{{"<unk>", 0, TypeUnknown}, {"▁a", -1, TypeNormal}, {"<0x41>", 0, TypeByte}}), []byte(`{"model":{"type":"WordPiece","vocab":{"[UNK]":0,"a":1}}}`))
	f.Fuzz(func(t *testing.T, model, js []byte) {
		for name, load := range map[string]func() (*Tokenizer, error){
			"sentencepiece": func() (*Tokenizer, error) { return FromSentencePieceModel(model) },
			"json":          func() (*Tokenizer, error) { return FromHuggingFace(js) },
		} {
			tok, err := load()
			if err != nil {
				if strings.Contains(err.Error(), "malformed input") {
					t.Errorf("%s: parser panicked: %v", name, err)
				}
				continue
			}
			ids := tok.Encode("a b\xff 中", EncodeOptions{AddSpecial: true, ParseSpecial: true})
			tok.Decode(append(ids, -1, 1<<30))
		}
	})
}
