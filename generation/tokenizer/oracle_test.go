package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQwen2MatchesReference(t *testing.T) {
	tok := qwenTokenizer(t)
	for i, c := range loadCases(t, "qwen2.out") {
		got := tok.Encode(c.text, EncodeOptions{})
		if !equalIDs(got, c.want) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.text, got, c.want)
		}
		if back := tok.Decode(got); back != c.text {
			t.Errorf("case %d: Decode(Encode(s)) = %q, want %q", i, back, c.text)
		}
	}
}

// TestLlamaSPMMatchesReference checks the Llama-2 SentencePiece model. The
// round trip is exact: Encode adds the dummy-prefix ▁ at the start and
// Decode drops exactly one leading space from the first piece, so strings
// that themselves start with spaces come back unchanged too.
func TestLlamaSPMMatchesReference(t *testing.T) {
	tok := llamaTokenizer(t)
	if tok.VocabSize() != 32000 || tok.BOS() != 1 || tok.EOS() != 2 {
		t.Fatalf("vocab %d bos %d eos %d, want 32000 1 2", tok.VocabSize(), tok.BOS(), tok.EOS())
	}
	for i, c := range loadCases(t, "llama-spm.out") {
		got := tok.Encode(c.text, EncodeOptions{})
		if !equalIDs(got, c.want) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.text, got, c.want)
		}
		if back := tok.Decode(got); back != c.text {
			t.Errorf("case %d: Decode(Encode(s)) = %q, want %q", i, back, c.text)
		}
	}
	// AddSpecial prepends BOS, and Decode keeps the text after it intact.
	ids := tok.Encode("Hello world", EncodeOptions{AddSpecial: true})
	if want := []int{1, 15043, 3186}; !equalIDs(ids, want) {
		t.Errorf("with BOS: got %v, want %v", ids, want)
	}
	if got := tok.Decode(ids); got != "<s>Hello world" {
		t.Errorf("Decode with BOS = %q", got)
	}
	// Control tokens are parsed only on request.
	if got := tok.Encode("<s>", EncodeOptions{ParseSpecial: true}); !equalIDs(got, []int{1}) {
		t.Errorf("parsed <s> = %v, want [1]", got)
	}
	if got := tok.Encode("<s>", EncodeOptions{}); len(got) < 2 {
		t.Errorf("unparsed <s> = %v, want plain-text pieces", got)
	}
}

func TestSpecialTokens(t *testing.T) {
	tok := qwenTokenizer(t)
	const text = "<|im_start|>user\n你好<|im_end|>"
	imStart, ok1 := tok.ID("<|im_start|>")
	imEnd, ok2 := tok.ID("<|im_end|>")
	if !ok1 || !ok2 || imStart != 151644 || imEnd != 151645 {
		t.Fatalf("ids of <|im_start|>, <|im_end|> = %d %d", imStart, imEnd)
	}
	body := tok.Encode("user\n你好", EncodeOptions{})
	parsed := tok.Encode(text, EncodeOptions{ParseSpecial: true})
	want := append(append([]int{imStart}, body...), imEnd)
	if !equalIDs(parsed, want) {
		t.Errorf("ParseSpecial: got %v, want %v", parsed, want)
	}
	plain := tok.Encode(text, EncodeOptions{})
	for _, id := range plain {
		if id == imStart || id == imEnd {
			t.Errorf("without ParseSpecial the special ids appear: %v", plain)
		}
	}
	if len(plain) <= len(parsed) {
		t.Errorf("plain-text encoding %v should be longer than %v", plain, parsed)
	}
	for _, ids := range [][]int{parsed, plain} {
		if got := tok.Decode(ids); got != text {
			t.Errorf("Decode = %q, want %q", got, text)
		}
	}
	// Non-special added tokens are always split out.
	toolCall, _ := tok.ID("<tool_call>")
	if got := tok.Encode("<tool_call>", EncodeOptions{}); !equalIDs(got, []int{toolCall}) {
		t.Errorf("<tool_call> = %v, want [%d]", got, toolCall)
	}
	// Qwen adds no BOS; end-of-generation tokens.
	if got := tok.Encode("hi", EncodeOptions{AddSpecial: true}); !equalIDs(got, tok.Encode("hi", EncodeOptions{})) {
		t.Errorf("AddSpecial changed Qwen output: %v", got)
	}
	tests := []struct {
		token string
		eog   bool
	}{{"<|im_end|>", true}, {"<|endoftext|>", true}, {"<|im_start|>", false}, {"Hello", false}}
	for _, tc := range tests {
		id, ok := tok.ID(tc.token)
		if !ok {
			t.Fatalf("no id for %q", tc.token)
		}
		if tok.IsEOG(id) != tc.eog {
			t.Errorf("IsEOG(%q) = %v, want %v", tc.token, !tc.eog, tc.eog)
		}
	}
	if tok.EOS() != imEnd || tok.BOS() != -1 {
		t.Errorf("from tokenizer_config.json: EOS %d BOS %d, want %d -1", tok.EOS(), tok.BOS(), imEnd)
	}
}

// specFromQwenJSON lays out tokenizer.json the way a GGUF file stores it:
// tokens in id order, types, "a b" merges.
func specFromQwenJSON(t *testing.T, data []byte) Spec {
	t.Helper()
	var f struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Model struct {
			Vocab  map[string]int `json:"vocab"`
			Merges []string       `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	n := len(f.Model.Vocab) + len(f.AddedTokens)
	s := Spec{Model: "gpt2", Pre: "qwen2", Tokens: make([]string, n), Types: make([]int32, n), Merges: f.Model.Merges,
		BOS: -1, EOS: -1, UNK: -1, PAD: -1, SEP: -1, CLS: -1}
	for tok, id := range f.Model.Vocab {
		s.Tokens[id], s.Types[id] = tok, TypeNormal
	}
	for _, a := range f.AddedTokens {
		s.Tokens[a.ID], s.Types[a.ID] = a.Content, TypeUserDefined
		if a.Special {
			s.Types[a.ID] = TypeControl
		}
		if a.Content == "<|im_end|>" {
			s.EOS = a.ID
		}
	}
	for i, tok := range s.Tokens {
		if tok == "" {
			t.Fatalf("no token with id %d", i)
		}
	}
	return s
}

func TestFromSpecMatchesHuggingFace(t *testing.T) {
	hf := qwenTokenizer(t)
	spec, err := FromSpec(specFromQwenJSON(t, qwenJSON))
	if err != nil {
		t.Fatal(err)
	}
	if spec.VocabSize() != hf.VocabSize() {
		t.Fatalf("VocabSize %d vs %d", spec.VocabSize(), hf.VocabSize())
	}
	texts := []string{"<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n你好<|im_end|>", "<tool_call>x</tool_call>"}
	for _, c := range loadCases(t, "qwen2.out") {
		texts = append(texts, c.text)
	}
	for _, text := range texts {
		for _, opt := range []EncodeOptions{{}, {ParseSpecial: true, AddSpecial: true}} {
			a, b := hf.Encode(text, opt), spec.Encode(text, opt)
			if !equalIDs(a, b) {
				t.Errorf("%q %+v:\n spec %v\n   hf %v", text, opt, b, a)
			}
			if spec.Decode(b) != text {
				t.Errorf("spec round trip of %q = %q", text, spec.Decode(b))
			}
		}
	}
	imEnd, _ := spec.ID("<|im_end|>")
	if !spec.IsEOG(imEnd) || spec.EOS() != imEnd {
		t.Errorf("spec EOS %d, IsEOG(<|im_end|>) %v", spec.EOS(), spec.IsEOG(imEnd))
	}
}

func TestStreamDecoder(t *testing.T) {
	tokenizers := map[string]*Tokenizer{"qwen2": qwenTokenizer(t), "llama2": llamaTokenizer(t)}
	extra := "中文：知识库问答，🚀 emoji ✅ and Ελληνικά"
	for name, tok := range tokenizers {
		texts := []string{extra}
		for _, c := range loadCases(t, "qwen2.out") {
			texts = append(texts, c.text)
		}
		for _, text := range texts {
			ids := tok.Encode(text, EncodeOptions{AddSpecial: true})
			d := tok.NewStreamDecoder()
			var b strings.Builder
			for _, id := range ids {
				chunk := d.Add(id)
				if !utf8.ValidString(chunk) {
					t.Errorf("%s %q: chunk %q is not valid UTF-8", name, text, chunk)
				}
				b.WriteString(chunk)
			}
			b.WriteString(d.Flush())
			if want := tok.Decode(ids); b.String() != want {
				t.Errorf("%s: streamed %q, Decode %q", name, b.String(), want)
			}
		}
	}
	// A CJK character split across byte tokens is held back until complete.
	tok := tokenizers["llama2"]
	ids := tok.Encode("ឃ", EncodeOptions{}) // not in the Llama vocabulary: byte fallback
	if len(ids) != 4 {
		t.Fatalf("ឃ encodes to %v, want ▁ and 3 byte pieces", ids)
	}
	d := tok.NewStreamDecoder()
	var got []string
	for _, id := range ids {
		got = append(got, d.Add(id))
	}
	if got[1] != "" || got[2] != "" || got[3] != "ឃ" {
		t.Errorf("byte pieces streamed as %q", got)
	}
}

func TestMalformedInput(t *testing.T) {
	model := readShared(t, "tokenizer", "llama2", "tokenizer.model")
	tests := []struct {
		name string
		load func() (*Tokenizer, error)
	}{
		{"json not json", func() (*Tokenizer, error) { return FromHuggingFace([]byte("{not json")) }},
		{"json no model", func() (*Tokenizer, error) { return FromHuggingFace([]byte(`{"model":{}}`)) }},
		{"json unknown regex", func() (*Tokenizer, error) {
			return FromHuggingFace([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated"}}`))
		}},
		{"json merge out of vocab", func() (*Tokenizer, error) {
			return FromHuggingFace([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"}}`))
		}},
		{"spm truncated", func() (*Tokenizer, error) { return FromSentencePieceModel(model[:len(model)/2+3]) }},
		{"spm garbage", func() (*Tokenizer, error) { return FromSentencePieceModel([]byte{0xff, 0xff, 0xff}) }},
		{"spm empty", func() (*Tokenizer, error) { return FromSentencePieceModel(nil) }},
		{"spec empty", func() (*Tokenizer, error) { return FromSpec(Spec{Model: "gpt2"}) }},
		{"spec bad model", func() (*Tokenizer, error) { return FromSpec(Spec{Model: "rwkv", Tokens: []string{"a"}}) }},
		{"spec gpt2 without byte tokens", func() (*Tokenizer, error) { return FromSpec(Spec{Model: "gpt2", Tokens: []string{"a", "b"}}) }},
		{"json sparse ids", func() (*Tokenizer, error) {
			return FromHuggingFace([]byte(`{"model":{"type":"WordPiece","vocab":{"a":2000000000}}}`))
		}},
		{"spec type count", func() (*Tokenizer, error) {
			return FromSpec(Spec{Model: "llama", Tokens: []string{"a", "b"}, Types: []int32{1}})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.load()
			if err == nil {
				t.Fatalf("no error (tokenizer with %d tokens)", tok.VocabSize())
			}
		})
	}
}

// TestFromSpecLlamaMatchesModel lays out the Llama-2 tokenizer.model as a
// GGUF "llama" vocabulary and checks both give the reference ids.
func TestFromSpecLlamaMatchesModel(t *testing.T) {
	mp, err := parseSentencePieceModel(readShared(t, "tokenizer", "llama2", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	s := Spec{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, SEP: -1, CLS: -1, AddBOS: true, AddSpacePrefix: true}
	for _, p := range mp.pieces {
		s.Tokens = append(s.Tokens, p.piece)
		s.Scores = append(s.Scores, p.score)
		s.Types = append(s.Types, p.typ)
	}
	spec, err := FromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range loadCases(t, "llama-spm.out") {
		got := spec.Encode(c.text, EncodeOptions{})
		if !equalIDs(got, c.want) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.text, got, c.want)
		}
		if back := spec.Decode(got); back != c.text {
			t.Errorf("case %d: round trip %q", i, back)
		}
	}
	if got := spec.Encode("Hi", EncodeOptions{AddSpecial: true}); len(got) == 0 || got[0] != 1 {
		t.Errorf("AddBOS: %v", got)
	}
}

// TestConcurrentEncode shares one tokenizer (and its cache) between
// goroutines; run with -race.
func TestConcurrentEncode(t *testing.T) {
	tok := qwenTokenizer(t)
	cases := loadCases(t, "qwen2.out")
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for k := 0; k < 3; k++ {
				for i, c := range cases {
					if got := tok.Encode(c.text, EncodeOptions{}); !equalIDs(got, c.want) {
						done <- fmt.Errorf("case %d: %v", i, got)
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
