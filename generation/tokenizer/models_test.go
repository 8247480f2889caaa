package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// bertVocab is a hand-made WordPiece vocabulary, in id order.
var bertVocab = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
	"hello", "world", "un", "##aff", "##able", "你", "好", ",", "!", "cafe", "##s", "知识"}

func bertJSON(t *testing.T) []byte {
	t.Helper()
	vocab := map[string]int{}
	for i, tok := range bertVocab {
		vocab[tok] = i
	}
	var added []map[string]any
	for i := 0; i < 5; i++ {
		added = append(added, map[string]any{"id": i, "content": bertVocab[i], "special": true,
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": false})
	}
	doc := map[string]any{
		"added_tokens":   added,
		"normalizer":     map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "BertProcessing", "sep": []any{"[SEP]", 3}, "cls": []any{"[CLS]", 2}},
		"decoder":        map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// bertSpec spells the same vocabulary the way llama.cpp stores BERT in GGUF.
func bertSpec() Spec {
	s := Spec{Model: "bert", BOS: 2, EOS: 3, UNK: 1, PAD: 0, SEP: 3, CLS: 2}
	for i, tok := range bertVocab {
		typ := TypeNormal
		switch {
		case i == 1:
			typ = TypeUnknown
		case i < 5:
			typ = TypeControl
		}
		switch {
		case i < 5:
		case strings.HasPrefix(tok, "##"):
			tok = tok[2:]
		default:
			tok = spaceMark + tok
		}
		s.Tokens = append(s.Tokens, tok)
		s.Types = append(s.Types, typ)
	}
	return s
}

func TestWordPiece(t *testing.T) {
	fromJSON, err := FromHuggingFace(bertJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	fromSpec, err := FromSpec(bertSpec())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("un", 51) // 102 characters
	tests := []struct {
		name string
		text string
		opt  EncodeOptions
		want []int
	}{
		{"subwords, CJK, accents, punctuation, unknown word", "Hello, 你好 unaffable World! Cafés xyz", EncodeOptions{},
			[]int{5, 12, 10, 11, 7, 8, 9, 6, 13, 14, 15, 1}},
		{"CLS and SEP", "hello world", EncodeOptions{AddSpecial: true}, []int{2, 5, 6, 3}},
		{"CJK characters split even inside words", "hello你world", EncodeOptions{}, []int{5, 10, 6}},
		{"multi-character CJK token never matches", "知识", EncodeOptions{}, []int{1, 1}},
		{"word over 100 characters", long + " hello", EncodeOptions{}, []int{1, 5}},
		{"partly known word is one UNK", "unaffablex", EncodeOptions{}, []int{1}},
		{"control characters dropped", "hel\u0000lo\u200b", EncodeOptions{}, []int{5}},
		{"special token parsed", "hello [MASK]!", EncodeOptions{ParseSpecial: true}, []int{5, 4, 13}},
		{"special token as text", "[MASK]", EncodeOptions{}, []int{1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for name, tok := range map[string]*Tokenizer{"json": fromJSON, "spec": fromSpec} {
				if got := tok.Encode(tc.text, tc.opt); !equalIDs(got, tc.want) {
					t.Errorf("%s: Encode(%q) = %v, want %v", name, tc.text, got, tc.want)
				}
			}
		})
	}
	ids := fromJSON.Encode("Hello, 你好 unaffable world!", EncodeOptions{AddSpecial: true})
	if got, want := fromJSON.Decode(ids), "[CLS] hello , 你 好 unaffable world ! [SEP]"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	d := fromSpec.NewStreamDecoder()
	var streamed strings.Builder
	for _, id := range ids {
		streamed.WriteString(d.Add(id))
	}
	streamed.WriteString(d.Flush())
	if streamed.String() != fromSpec.Decode(ids) {
		t.Errorf("streamed %q, Decode %q", streamed.String(), fromSpec.Decode(ids))
	}
	if fromSpec.TokenString(8) != "##aff" || fromSpec.TokenString(5) != "hello" {
		t.Errorf("spec tokens not converted from phantom-space spelling: %q %q", fromSpec.TokenString(8), fromSpec.TokenString(5))
	}
	if fromJSON.BOS() != 2 || fromJSON.EOS() != 3 {
		t.Errorf("BOS/EOS = %d/%d, want CLS/SEP 2/3", fromJSON.BOS(), fromJSON.EOS())
	}
}

// byteLevelJSON builds a tiny byte-level BPE tokenizer.json: the 256 byte
// tokens, then extra tokens with their merges.
func byteLevelJSON(t *testing.T, regex string, ignoreMerges bool, extra []string, merges []string, added []map[string]any) []byte {
	t.Helper()
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])] = b
	}
	for _, tok := range extra {
		vocab[tok] = len(vocab)
	}
	doc := map[string]any{
		"added_tokens": added,
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": regex}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<|begin_of_text|>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<|begin_of_text|>": map[string]any{"id": "<|begin_of_text|>", "ids": []int{len(vocab)}, "tokens": []string{"<|begin_of_text|>"}}}},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "ignore_merges": ignoreMerges, "merges": merges},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestByteLevelVariants(t *testing.T) {
	llama3Regex := `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	extra := []string{"12", "123", "ab", "abc", "xyz", "Ġm", "Ġma", "Ġmask"}
	// "xyz" is in the vocabulary but no merge builds it; pairs merge as
	// pair arrays, the newer tokenizer.json spelling.
	merges := []string{"1 2", "12 3", "a b", "Ġ m", "Ġm a"}
	bot := len(extra) + 256
	added := []map[string]any{
		{"id": bot, "content": "<|begin_of_text|>", "special": true},
		{"id": bot + 1, "content": "<mask>", "special": true, "lstrip": true, "rstrip": true},
	}
	id := func(tok string) int {
		for i, e := range extra {
			if e == tok {
				return 256 + i
			}
		}
		return int(tok[0])
	}
	tests := []struct {
		name         string
		ignoreMerges bool
		text         string
		opt          EncodeOptions
		want         []int
	}{
		{"digits group by three", false, "12345", EncodeOptions{}, []int{id("123"), '4', '5'}},
		{"merges apply", false, "abc", EncodeOptions{}, []int{id("ab"), 'c'}},
		{"without ignore_merges", false, "xyz", EncodeOptions{}, []int{'x', 'y', 'z'}},
		{"ignore_merges keeps a known word whole", true, "xyz", EncodeOptions{}, []int{id("xyz")}},
		{"BOS from TemplateProcessing", false, "ab", EncodeOptions{AddSpecial: true}, []int{bot, id("ab")}},
		{"lstrip and rstrip absorb spaces", false, "ab <mask> ab", EncodeOptions{ParseSpecial: true}, []int{id("ab"), bot + 1, id("ab")}},
		{"unparsed special merges as text", false, " <mask>", EncodeOptions{}, []int{' ', '<', 'm', 'a', 's', 'k', '>'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := FromHuggingFace(byteLevelJSON(t, llama3Regex, tc.ignoreMerges, extra, merges, added))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tc.text, tc.opt); !equalIDs(got, tc.want) {
				t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
	// The " <mask>" case above: " <" is one pre-token, "mask" and ">" follow;
	// "Ġm" merges only when the space and the m are in one pre-token.
	tok, err := FromHuggingFace(byteLevelJSON(t, llama3Regex, false, extra, merges, added))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode(" ma", EncodeOptions{}), []int{id("Ġma")}; !equalIDs(got, want) {
		t.Errorf("Encode(\" ma\") = %v, want %v", got, want)
	}
}

// TestHuggingFaceSentencePieceBPE covers tokenizer.json files of the
// Llama-2 / Mistral kind: BPE over characters with ▁ and byte fallback.
func TestHuggingFaceSentencePieceBPE(t *testing.T) {
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2, "<0xC3>": 3, "<0xA9>": 4,
		"▁": 5, "h": 6, "e": 7, "l": 8, "o": 9, "▁h": 10, "ll": 11, "▁he": 12, "llo": 13, "▁hello": 14}
	doc := map[string]any{
		"added_tokens": []map[string]any{{"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}},
		"pre_tokenizer": nil,
		"model": map[string]any{"type": "BPE", "vocab": vocab, "byte_fallback": true, "unk_token": "<unk>",
			"merges": [][2]string{{"▁", "h"}, {"l", "l"}, {"▁h", "e"}, {"ll", "o"}, {"▁he", "llo"}}},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromHuggingFace(data)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("hello é", EncodeOptions{})
	if want := []int{14, 5, 3, 4}; !equalIDs(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	if got := tok.Decode(ids); got != "hello é" {
		t.Errorf("Decode = %q", got)
	}
	if got := tok.Encode("hex", EncodeOptions{}); !equalIDs(got, []int{12, 0}) {
		t.Errorf("unknown character without byte pieces: %v, want [12 0]", got)
	}
	// The Prepend normalizer runs on every segment, so text after a special
	// token gets ▁ too.
	if got := tok.Encode("<s>hello", EncodeOptions{ParseSpecial: true}); !equalIDs(got, []int{1, 14}) {
		t.Errorf("Prepend after <s>: %v, want [1 14]", got)
	}

	// Newer files: a Metaspace pre-tokenizer with prepend_scheme "first"
	// adds ▁ only at the very start of the text.
	doc["normalizer"] = nil
	doc["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if tok, err = FromHuggingFace(data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want []int
	}{{"hello", []int{14}}, {"<s>hello", []int{1, 6, 7, 13}}, {"hello<s>hello", []int{14, 1, 6, 7, 13}}} {
		ids := tok.Encode(tc.text, EncodeOptions{ParseSpecial: true})
		if !equalIDs(ids, tc.want) {
			t.Errorf("Metaspace first: Encode(%q) = %v, want %v", tc.text, ids, tc.want)
		}
		if back := tok.Decode(ids); back != tc.text {
			t.Errorf("Metaspace first: Decode = %q, want %q", back, tc.text)
		}
	}
}

// protoBuilder writes protobuf fields for hand-made SentencePiece models.
type protoBuilder []byte

func (p *protoBuilder) key(field, wire int) { *p = binary.AppendUvarint(*p, uint64(field<<3|wire)) }
func (p *protoBuilder) varint(field int, v uint64) {
	p.key(field, 0)
	*p = binary.AppendUvarint(*p, v)
}
func (p *protoBuilder) bytes(field int, b []byte) {
	p.key(field, 2)
	*p = binary.AppendUvarint(*p, uint64(len(b)))
	*p = append(*p, b...)
}
func (p *protoBuilder) float(field int, f float32) {
	p.key(field, 5)
	*p = binary.LittleEndian.AppendUint32(*p, math.Float32bits(f))
}

func unigramModel(pieces []spPiece) []byte {
	var m protoBuilder
	for _, pc := range pieces {
		var sp protoBuilder
		sp.bytes(1, []byte(pc.piece))
		sp.float(2, pc.score)
		sp.varint(3, uint64(pc.typ))
		m.bytes(1, sp)
	}
	var trainer protoBuilder
	trainer.varint(3, 1) // UNIGRAM
	m.bytes(2, trainer)
	var normalizer protoBuilder
	normalizer.bytes(1, []byte("identity"))
	normalizer.varint(3, 1) // add_dummy_prefix
	normalizer.varint(4, 1) // remove_extra_whitespaces
	m.bytes(3, normalizer)
	return m
}

func TestSentencePieceUnigram(t *testing.T) {
	pieces := []spPiece{{"<unk>", 0, TypeUnknown}, {"<s>", 0, TypeControl}, {"</s>", 0, TypeControl},
		{"▁", -2, TypeNormal}, {"▁he", -2, TypeNormal}, {"llo", -2, TypeNormal}, {"▁hello", -3.5, TypeNormal},
		{"h", -5, TypeNormal}, {"e", -5, TypeNormal}, {"l", -5, TypeNormal}, {"o", -5, TypeNormal},
		{"▁hel", -3, TypeNormal}, {"lo", -3, TypeNormal}}
	tests := []struct {
		name        string
		helloScore  float32
		text        string
		want        []int
		wantDecoded string
	}{
		{"whole word scores best", -3.5, "hello", []int{6}, "hello"},
		{"two pieces score best", -4.5, "hello", []int{4, 5}, "hello"},
		{"extra whitespace removed, unknown run is one UNK", -3.5, "  hello   xx ", []int{6, 3, 0}, "hello <unk>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := append([]spPiece(nil), pieces...)
			p[6].score = tc.helloScore
			tok, err := FromSentencePieceModel(unigramModel(p))
			if err != nil {
				t.Fatal(err)
			}
			got := tok.Encode(tc.text, EncodeOptions{})
			if !equalIDs(got, tc.want) {
				t.Fatalf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
			}
			if back := tok.Decode(got); back != tc.wantDecoded {
				t.Errorf("Decode = %q, want %q", back, tc.wantDecoded)
			}
		})
	}
}
