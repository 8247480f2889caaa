package tokenizer

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Spec is a vocabulary as GGUF files store it (the tokenizer.ggml.* keys).
// The GGUF reader fills it; ids that a file does not name are -1.
type Spec struct {
	// Model is tokenizer.ggml.model: "gpt2" (byte-level BPE), "llama"
	// (SentencePiece) or "bert" (WordPiece).
	Model string
	// Pre is tokenizer.ggml.pre: "qwen2", "llama-bpe", "default", ...
	Pre string
	// Tokens, Scores and Types are indexed by token id. Scores are needed
	// for "llama"; Types (Type* constants) for all models; for "bert" the
	// tokens use llama.cpp's spelling (▁ marks a word start, no ##).
	Tokens []string
	Scores []float32
	Types  []int32
	// Merges are the "a b" BPE rules of "gpt2" models, in rank order.
	Merges []string

	BOS, EOS, UNK, PAD, SEP, CLS int
	// AddBOS and AddEOS are tokenizer.ggml.add_bos_token / add_eos_token.
	// When a file lacks the key, llama.cpp assumes AddBOS for "llama",
	// "bert" and the Llama-3 pre-tokenizers; the reader should do the same.
	AddBOS, AddEOS bool
	// AddSpacePrefix is tokenizer.ggml.add_space_prefix (SentencePiece's
	// dummy prefix). llama.cpp assumes true for "llama" when the key is
	// absent; the reader should do the same.
	AddSpacePrefix bool
}

// preTokenizerForPre maps tokenizer.ggml.pre to a scanner and whether the
// family keeps whole-token pre-tokens unmerged (ignore_merges) and applies
// NFC.
func preTokenizerForPre(pre string) (p preTokenizer, ignoreMerges, nfc bool) {
	switch pre {
	case "qwen2", "deepseek-r1-qwen", "megrez":
		return preTokenizer{style: styleLlama3, maxDigits: 1}, false, true
	case "stablelm2", "hunyuan":
		return preTokenizer{style: styleLlama3, maxDigits: 1}, false, false
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral":
		return preTokenizer{style: styleLlama3, maxDigits: 3}, true, false
	case "glm4", "chatglm-bpe", "dbrx", "smaug-bpe":
		return preTokenizer{style: styleLlama3, maxDigits: 3}, false, false
	case "", "default", "gpt-2", "gpt2":
		return preTokenizer{style: styleGPT2}, false, false
	}
	slog.Warn("tokenizer: unrecognized pre-tokenizer, using GPT-2 splitting", "pre", pre)
	return preTokenizer{style: styleGPT2}, false, false
}

// FromSpec builds a tokenizer from GGUF tokenizer metadata.
func FromSpec(s Spec) (t *Tokenizer, err error) {
	defer recoverParse(&t, &err, "tokenizer spec")
	n := len(s.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer spec: no tokens")
	}
	if s.Types != nil && len(s.Types) != n {
		return nil, fmt.Errorf("tokenizer spec: %d token types for %d tokens", len(s.Types), n)
	}
	if s.Scores != nil && len(s.Scores) != n {
		return nil, fmt.Errorf("tokenizer spec: %d scores for %d tokens", len(s.Scores), n)
	}
	t = &Tokenizer{tokens: make([]string, n), types: make([]int32, n), ids: make(map[string]int, n)}
	copy(t.tokens, s.Tokens)
	for i := range t.types {
		t.types[i] = TypeNormal
		if s.Types != nil {
			t.types[i] = s.Types[i]
		}
	}
	valid := func(id int) int {
		if id >= 0 && id < n {
			return id
		}
		return -1
	}
	t.bos, t.eos, t.unk, t.pad, t.sep, t.cls = valid(s.BOS), valid(s.EOS), valid(s.UNK), valid(s.PAD), valid(s.SEP), valid(s.CLS)

	switch s.Model {
	case "gpt2":
		t.kind = kindByteBPE
		t.fillIDs()
		merges := make([][2]string, len(s.Merges))
		for i, m := range s.Merges {
			a, b, ok := strings.Cut(m, " ")
			if !ok {
				return nil, fmt.Errorf("tokenizer spec: merge %d %q has no space", i, m)
			}
			merges[i] = [2]string{a, b}
		}
		pre, ignoreMerges, nfc := preTokenizerForPre(s.Pre)
		m, err := newByteBPE(t.tokens, t.types, t.ids, merges, pre, ignoreMerges)
		if err != nil {
			return nil, fmt.Errorf("tokenizer spec: %w", err)
		}
		m.nfc = nfc
		t.bpe = m
	case "llama":
		t.kind = kindSentencePiece
		t.fillIDs()
		scores := s.Scores
		if scores == nil {
			scores = make([]float32, n)
		}
		hasBytes := false
		for _, typ := range t.types {
			hasBytes = hasBytes || typ == TypeByte
		}
		t.spm = newSentencePiece(t.tokens, t.types, scores, t.unk, spOptions{
			byteFallback: hasBytes, addDummyPrefix: s.AddSpacePrefix, escapeWhitespaces: true})
	case "bert":
		t.kind = kindWordPiece
		for i, tok := range t.tokens {
			t.tokens[i] = fromPhantomSpace(tok, t.types[i])
		}
		t.fillIDs()
		if t.cls < 0 {
			t.cls = t.bos
		}
		if t.sep < 0 {
			t.sep = t.eos
		}
		t.wp = newWordPiece(t.ids, wordPieceOptions{prefix: "##", maxChars: 100, unk: t.unk,
			cleanText: true, chineseChars: true, lowercase: true, stripAccents: true})
	default:
		return nil, fmt.Errorf("tokenizer spec: model %q not supported (want gpt2, llama or bert)", s.Model)
	}
	t.collectAdded(true)
	switch {
	case t.kind == kindWordPiece:
		if t.cls >= 0 {
			t.prefix = []int{t.cls}
		}
		if t.sep >= 0 {
			t.suffix = []int{t.sep}
		}
	default:
		if s.AddBOS && t.bos >= 0 {
			t.prefix = []int{t.bos}
		}
		if s.AddEOS && t.eos >= 0 {
			t.suffix = []int{t.eos}
		}
	}
	t.finish()
	return t, nil
}

// fillIDs indexes tokens by spelling; the lowest id wins for duplicates.
func (t *Tokenizer) fillIDs() {
	for id, tok := range t.tokens {
		if _, dup := t.ids[tok]; !dup {
			t.ids[tok] = id
		}
	}
}

// fromPhantomSpace undoes llama.cpp's BERT vocabulary spelling: "▁word" is
// a word start, "[CLS]"-style and control tokens stay, and any other token
// is a continuation ("##" + token).
func fromPhantomSpace(tok string, typ int32) string {
	if rest, ok := strings.CutPrefix(tok, spaceMark); ok {
		return rest
	}
	if typ == TypeControl || typ == TypeUnknown || typ == TypeUserDefined || (strings.HasPrefix(tok, "[") && strings.HasSuffix(tok, "]")) {
		return tok
	}
	return "##" + tok
}
