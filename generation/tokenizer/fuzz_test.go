package tokenizer

import (
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
