// Package tokenizer turns text into token ids and back for the model families
// Zhiwen runs: byte-level BPE (GPT-2, Qwen2, Llama-3, GLM-4), SentencePiece
// (Llama-2, ChatGLM3) and WordPiece (BERT, bge). A Tokenizer is built from a
// Hugging Face tokenizer.json, a SentencePiece tokenizer.model, or the
// tokenizer metadata of a GGUF file (see Spec). A Tokenizer is safe for
// concurrent use.
package tokenizer

import (
	"sort"
	"strings"
	"sync"
)

// Token types, numbered as in SentencePiece and GGUF tokenizer.ggml.token_type.
const (
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

type modelKind int

const (
	kindByteBPE modelKind = iota + 1
	kindSentencePiece
	kindWordPiece
)

// EncodeOptions controls Encode.
type EncodeOptions struct {
	// AddSpecial adds the model's framing tokens: BOS (and EOS where the
	// model asks for it) for LLM vocabularies, [CLS] ... [SEP] for BERT.
	AddSpecial bool
	// ParseSpecial recognizes special (control) tokens such as <|im_start|>
	// written in the text. Hugging Face does this by default; set it for
	// prompts built from a chat template, leave it off for untrusted text.
	// Non-special added tokens are always recognized.
	ParseSpecial bool
}

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	kind   modelKind
	tokens []string // id → token as stored in the vocabulary
	types  []int32  // id → Type*
	ids    map[string]int

	added        []addedToken      // special and user-defined tokens, longest first
	addedByFirst [256][]addedToken // added, grouped by first byte

	bos, eos, unk, pad, sep, cls int
	prefix, suffix               []int // framing added by AddSpecial
	eog                          map[int]bool

	bpe *byteBPE
	spm *sentencePiece
	wp  *wordPiece
}

// addedToken is a token matched in the raw text before the model runs.
type addedToken struct {
	text    string
	id      int
	special bool // matched only with ParseSpecial
	lstrip  bool // absorbs whitespace on its left
	rstrip  bool // absorbs whitespace on its right
	single  bool // matched only as a whole word
}

// VocabSize returns the number of token ids (the largest id plus one).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1 if the model has none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1 if the model has none.
func (t *Tokenizer) EOS() int { return t.eos }

// TokenString returns the token as the vocabulary spells it (for byte-level
// BPE that is the GPT-2 byte-to-unicode form, e.g. "Ġthe"), or "" for an id
// out of range.
func (t *Tokenizer) TokenString(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// ID returns the id of a token spelled as in the vocabulary.
func (t *Tokenizer) ID(token string) (int, bool) {
	id, ok := t.ids[token]
	return id, ok
}

// IsEOG reports whether id ends a generation: the EOS token or one of the
// end-of-turn control tokens (<|im_end|>, <|endoftext|>, <|eot_id|>,
// <|user|> for ChatGLM, ...).
func (t *Tokenizer) IsEOG(id int) bool { return t.eog[id] }

// eogNames are control tokens that end a turn in the chat formats we speak.
var eogNames = []string{
	"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>",
	"<|end|>", "<end_of_turn>", "<|user|>", "<|observation|>", "</s>", "<EOT>",
}

// finish fills the derived tables once tokens, types and ids are set.
func (t *Tokenizer) finish() {
	t.eog = map[int]bool{}
	if t.eos >= 0 {
		t.eog[t.eos] = true
	}
	for _, name := range eogNames {
		if id, ok := t.ids[name]; ok && (t.types[id] == TypeControl || t.types[id] == TypeUserDefined) {
			t.eog[id] = true
		}
	}
	sortAdded(t.added)
	for i := range t.addedByFirst {
		t.addedByFirst[i] = nil
	}
	for _, tok := range t.added {
		if tok.text != "" {
			t.addedByFirst[tok.text[0]] = append(t.addedByFirst[tok.text[0]], tok)
		}
	}
}

// Encode turns text into token ids.
func (t *Tokenizer) Encode(text string, opt EncodeOptions) []int {
	var out []int
	if opt.AddSpecial {
		out = append(out, t.prefix...)
	}
	afterSpecial := true // at the start, or right after an added token
	textStart := true    // nothing emitted yet
	t.splitAdded(text, opt.ParseSpecial, func(segment string, id int) {
		if id >= 0 {
			out = append(out, id)
			afterSpecial, textStart = true, false
			return
		}
		switch t.kind {
		case kindByteBPE:
			out = t.bpe.encode(out, segment)
		case kindSentencePiece:
			out = t.spm.encode(out, segment, textStart || (afterSpecial && !t.spm.prefixFirstOnly))
		case kindWordPiece:
			out = t.wp.encode(out, segment)
		}
		afterSpecial, textStart = false, false
	})
	if opt.AddSpecial {
		out = append(out, t.suffix...)
	}
	return out
}

// splitAdded cuts text at added tokens (leftmost, longest first) and calls
// emit for each plain-text segment (id -1) and each matched token.
func (t *Tokenizer) splitAdded(text string, parseSpecial bool, emit func(segment string, id int)) {
	if len(t.added) == 0 {
		if text != "" {
			emit(text, -1)
		}
		return
	}
	start := 0 // start of the pending plain-text segment
	for i := 0; i < len(text); {
		if len(t.addedByFirst[text[i]]) == 0 {
			i++
			continue
		}
		tok, ok := t.matchAdded(text, i, parseSpecial)
		if !ok {
			i++
			continue
		}
		end := i + len(tok.text)
		left := i
		if tok.lstrip {
			for left > start && isASCIISpace(text[left-1]) {
				left--
			}
		}
		if tok.rstrip {
			for end < len(text) && isASCIISpace(text[end]) {
				end++
			}
		}
		if left > start {
			emit(text[start:left], -1)
		}
		emit(tok.text, tok.id)
		start, i = end, end
	}
	if start < len(text) {
		emit(text[start:], -1)
	}
}

// matchAdded returns the longest added token that starts at text[i].
func (t *Tokenizer) matchAdded(text string, i int, parseSpecial bool) (addedToken, bool) {
	for _, tok := range t.addedByFirst[text[i]] { // longest first
		if tok.special && !parseSpecial {
			continue
		}
		if !strings.HasPrefix(text[i:], tok.text) {
			continue
		}
		if tok.single && (isWordByteBefore(text, i) || isWordByteAfter(text, i+len(tok.text))) {
			continue
		}
		return tok, true
	}
	return addedToken{}, false
}

func isASCIISpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

func isWordByte(b byte) bool {
	return b >= 0x80 || b == '_' || (b >= '0' && b <= '9') || (b|0x20 >= 'a' && b|0x20 <= 'z')
}

func isWordByteBefore(s string, i int) bool { return i > 0 && isWordByte(s[i-1]) }
func isWordByteAfter(s string, i int) bool  { return i < len(s) && isWordByte(s[i]) }

// sortAdded orders added tokens longest first so the first match is the
// longest; ties keep the lower id first.
func sortAdded(added []addedToken) {
	sort.SliceStable(added, func(i, j int) bool {
		if len(added[i].text) != len(added[j].text) {
			return len(added[i].text) > len(added[j].text)
		}
		return added[i].id < added[j].id
	})
}

// Decode turns ids back into text. Special tokens are written out as their
// text (as Hugging Face does without skip_special_tokens); ids out of range
// are skipped. The result holds the exact bytes the tokens stand for, so it
// may end in an incomplete UTF-8 sequence when the ids end mid-character.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	var st decodeState
	for _, id := range ids {
		t.appendToken(&b, id, &st)
	}
	return b.String()
}

// decodeState carries what decoding one token needs to know about the ones
// before it.
type decodeState struct {
	started      bool // some token has been written
	afterSpecial bool // the previous token was a control or added token
}

// appendToken writes the bytes of one token.
func (t *Tokenizer) appendToken(b *strings.Builder, id int, st *decodeState) {
	if id < 0 || id >= len(t.tokens) {
		return
	}
	typ := t.types[id]
	started := st.started
	first := !started || (st.afterSpecial && !(t.kind == kindSentencePiece && t.spm.prefixFirstOnly))
	st.started = true
	if typ == TypeControl || typ == TypeUserDefined || typ == TypeUnknown {
		st.afterSpecial = true
		if t.kind == kindWordPiece && started {
			b.WriteByte(' ')
		}
		b.WriteString(t.tokens[id])
		return
	}
	st.afterSpecial = false
	switch t.kind {
	case kindByteBPE:
		t.bpe.appendDecoded(b, t.tokens[id])
	case kindSentencePiece:
		t.spm.appendDecoded(b, t.tokens[id], typ, first)
	case kindWordPiece:
		t.wp.appendDecoded(b, t.tokens[id], started)
	}
}

// encodeCache memoizes the ids of frequent pre-tokens.
type encodeCache struct {
	mu sync.RWMutex
	m  map[string][]int
}

const encodeCacheMax = 1 << 16

func (c *encodeCache) get(key string) ([]int, bool) {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	return v, ok
}

func (c *encodeCache) put(key string, ids []int) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= encodeCacheMax {
		c.m = make(map[string][]int, 1024)
	}
	c.m[key] = ids
	c.mu.Unlock()
}
