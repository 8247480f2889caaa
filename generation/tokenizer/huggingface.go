package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// hfFile is the part of a Hugging Face tokenizer.json we read.
type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         hfModel         `json:"model"`
}

type hfAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	MaxInputCharsPerWord    int             `json:"max_input_chars_per_word"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
}

// hfComponent is a normalizer, pre-tokenizer, post-processor or decoder;
// Sequence kinds nest their parts under one of several keys.
type hfComponent struct {
	Type           string          `json:"type"`
	Normalizers    []hfComponent   `json:"normalizers"`
	Pretokenizers  []hfComponent   `json:"pretokenizers"`
	Processors     []hfComponent   `json:"processors"`
	Decoders       []hfComponent   `json:"decoders"`
	Pattern        json.RawMessage `json:"pattern"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
	UseRegex       *bool           `json:"use_regex"`
	AddPrefixSpace bool            `json:"add_prefix_space"`
	Prepend        string          `json:"prepend"`
	Content        string          `json:"content"`
	Replacement    string          `json:"replacement"`
	PrependScheme  string          `json:"prepend_scheme"`
	Split          *bool           `json:"split"`
	// BertNormalizer
	CleanText          *bool `json:"clean_text"`
	HandleChineseChars *bool `json:"handle_chinese_chars"`
	StripAccents       *bool `json:"strip_accents"`
	Lowercase          *bool `json:"lowercase"`
	// post-processors
	Single        []map[string]struct{ ID string } `json:"single"`
	SpecialTokens map[string]struct{ IDs []int }   `json:"special_tokens"`
	Sep           []json.RawMessage                `json:"sep"`
	Cls           []json.RawMessage                `json:"cls"`
}

// flatten lists a component and, for a Sequence, its parts in order.
func (c hfComponent) flatten() []hfComponent {
	if c.Type != "Sequence" {
		return []hfComponent{c}
	}
	var out []hfComponent
	for _, parts := range [][]hfComponent{c.Normalizers, c.Pretokenizers, c.Processors, c.Decoders} {
		for _, p := range parts {
			out = append(out, p.flatten()...)
		}
	}
	return out
}

func parseComponent(raw json.RawMessage, what string) ([]hfComponent, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return c.flatten(), nil
}

// LoadHuggingFace reads a tokenizer.json file (or the one in a directory).
// A tokenizer_config.json next to it, when present, supplies the BOS, EOS
// and PAD tokens and the add_bos_token / add_eos_token flags.
func LoadHuggingFace(path string) (*Tokenizer, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := FromHuggingFace(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	cfgPath := filepath.Join(filepath.Dir(path), "tokenizer_config.json")
	if cfg, err := os.ReadFile(cfgPath); err == nil {
		if err := t.applyHFConfig(cfg); err != nil {
			return nil, fmt.Errorf("load %s: %w", cfgPath, err)
		}
	}
	return t, nil
}

// FromHuggingFace builds a tokenizer from the contents of a Hugging Face
// tokenizer.json. Supported models: byte-level BPE (GPT-2 / Qwen2 / Llama-3
// pre-tokenizers), SentencePiece-style BPE with byte fallback (Llama-2,
// Mistral) and WordPiece (BERT).
func FromHuggingFace(data []byte) (t *Tokenizer, err error) {
	defer recoverParse(&t, &err, "tokenizer.json")
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	if f.Model.Type != "" && f.Model.Type != "BPE" && f.Model.Type != "WordPiece" {
		return nil, fmt.Errorf("parse tokenizer.json: model type %q not supported (only BPE and WordPiece)", f.Model.Type)
	}
	if len(f.Model.Vocab) == 0 {
		return nil, errors.New("parse tokenizer.json: model has no vocab")
	}
	vocab, err := scanVocab(f.Model.Vocab)
	if err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	normalizers, err := parseComponent(f.Normalizer, "normalizer")
	if err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	pretok, err := parseComponent(f.PreTokenizer, "pre_tokenizer")
	if err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	post, err := parseComponent(f.PostProcessor, "post_processor")
	if err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	t, err = newTokenizerFromVocab(vocab, f.AddedTokens)
	if err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	modelType := f.Model.Type
	if modelType == "" {
		switch {
		case len(f.Model.Merges) > 0:
			modelType = "BPE"
		case f.Model.ContinuingSubwordPrefix != nil:
			modelType = "WordPiece"
		}
	}
	switch modelType {
	case "BPE":
		merges, err := scanMerges(f.Model.Merges)
		if err != nil {
			return nil, fmt.Errorf("parse tokenizer.json: %w", err)
		}
		if hasComponent(pretok, "ByteLevel") {
			err = t.setupHFByteLevel(f.Model, merges, normalizers, pretok)
		} else {
			err = t.setupHFSentencePieceBPE(f.Model, merges, normalizers, pretok)
		}
		if err != nil {
			return nil, fmt.Errorf("parse tokenizer.json: %w", err)
		}
	case "WordPiece":
		if err := t.setupHFWordPiece(f.Model, normalizers); err != nil {
			return nil, fmt.Errorf("parse tokenizer.json: %w", err)
		}
	default:
		return nil, fmt.Errorf("parse tokenizer.json: model type %q not supported", f.Model.Type)
	}
	if err := t.setupPostProcessor(post); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	t.guessSpecialIDs(f.Model.UnkToken)
	t.finish()
	return t, nil
}

// newTokenizerFromVocab lays out the id table from the model vocabulary and
// the added tokens (which may extend it or reuse its ids).
func newTokenizerFromVocab(vocab []vocabEntry, added []hfAddedToken) (*Tokenizer, error) {
	n := 0
	for _, e := range vocab {
		n = max(n, e.id+1)
	}
	for _, a := range added {
		n = max(n, a.ID+1)
	}
	if limit := 2*(len(vocab)+len(added)) + 1024; n > limit {
		return nil, fmt.Errorf("token ids up to %d for %d tokens: ids are not dense", n-1, len(vocab)+len(added))
	}
	t := &Tokenizer{tokens: make([]string, n), types: make([]int32, n), ids: make(map[string]int, n),
		bos: -1, eos: -1, unk: -1, pad: -1, sep: -1, cls: -1}
	for i := range t.types {
		t.types[i] = TypeUnused // holes in the id space
	}
	for _, e := range vocab {
		t.tokens[e.id], t.types[e.id] = e.token, TypeNormal
		t.ids[e.token] = e.id
	}
	for _, a := range added {
		if a.ID < 0 {
			continue
		}
		typ := TypeUserDefined
		if a.Special {
			typ = TypeControl
		}
		t.tokens[a.ID], t.types[a.ID] = a.Content, typ
		t.ids[a.Content] = a.ID
		t.added = append(t.added, addedToken{text: a.Content, id: a.ID, special: a.Special,
			lstrip: a.LStrip, rstrip: a.RStrip, single: a.SingleWord})
	}
	return t, nil
}

func hasComponent(cs []hfComponent, typ string) bool {
	for _, c := range cs {
		if c.Type == typ {
			return true
		}
	}
	return false
}

func (t *Tokenizer) setupHFByteLevel(model hfModel, merges [][2]string, normalizers, pretok []hfComponent) error {
	t.kind = kindByteBPE
	nfc := false
	for _, n := range normalizers {
		switch n.Type {
		case "NFC":
			nfc = true
		default:
			return fmt.Errorf("normalizer %q not supported with byte-level BPE", n.Type)
		}
	}
	var pre preTokenizer
	addPrefixSpace := false
	for _, p := range pretok {
		switch p.Type {
		case "Split":
			var pat struct{ Regex, String string }
			if err := json.Unmarshal(p.Pattern, &pat); err != nil {
				return fmt.Errorf("Split pattern: %w", err)
			}
			known, ok := knownSplitPatterns[pat.Regex]
			if !ok || pat.Regex == "" {
				return fmt.Errorf("Split pattern %q not supported", pat.Regex+pat.String)
			}
			if p.Behavior != "Isolated" || p.Invert {
				return fmt.Errorf("Split behavior %q (invert %v) not supported", p.Behavior, p.Invert)
			}
			if pre.style != 0 {
				return errors.New("more than one Split pre-tokenizer")
			}
			pre = known
		case "ByteLevel":
			addPrefixSpace = p.AddPrefixSpace
			if p.UseRegex == nil || *p.UseRegex {
				if pre.style != 0 {
					return errors.New("ByteLevel with use_regex after a Split pre-tokenizer")
				}
				pre = preTokenizer{style: styleGPT2}
			}
		default:
			return fmt.Errorf("pre-tokenizer %q not supported with byte-level BPE", p.Type)
		}
	}
	if pre.style == 0 {
		return errors.New("byte-level BPE without a splitting pre-tokenizer")
	}
	m, err := newByteBPE(t.tokens, t.types, t.ids, merges, pre, model.IgnoreMerges)
	if err != nil {
		return err
	}
	m.nfc, m.addPrefixSpace = nfc, addPrefixSpace
	t.bpe = m
	return nil
}

// setupHFSentencePieceBPE handles BPE over characters with ▁ for spaces
// (Llama-2 and Mistral tokenizer.json files).
func (t *Tokenizer) setupHFSentencePieceBPE(model hfModel, merges [][2]string, normalizers, pretok []hfComponent) error {
	t.kind = kindSentencePiece
	o := spOptions{byteFallback: model.ByteFallback}
	for _, n := range normalizers {
		switch {
		case n.Type == "Prepend" && n.Prepend == spaceMark:
			o.addDummyPrefix = true
		case n.Type == "Replace":
			var pat struct{ String string }
			if err := json.Unmarshal(n.Pattern, &pat); err != nil || pat.String != " " || n.Content != spaceMark {
				return fmt.Errorf("Replace normalizer other than \" \" → ▁ not supported")
			}
			o.escapeWhitespaces = true
		default:
			return fmt.Errorf("normalizer %q not supported with SentencePiece-style BPE", n.Type)
		}
	}
	for _, p := range pretok {
		if p.Type != "Metaspace" || p.Replacement != spaceMark || (p.Split != nil && *p.Split) {
			return fmt.Errorf("pre-tokenizer %q not supported with SentencePiece-style BPE", p.Type)
		}
		o.escapeWhitespaces = true
		o.addDummyPrefix = p.PrependScheme != "never"
		o.prefixFirstOnly = p.PrependScheme == "first"
	}
	for id, tok := range t.tokens {
		if t.types[id] == TypeNormal {
			if _, ok := parseByteToken(tok); ok {
				t.types[id] = TypeByte
			}
		}
	}
	unk := -1
	if model.UnkToken != nil {
		if id, ok := t.ids[*model.UnkToken]; ok {
			unk = id
			t.types[id] = TypeUnknown
		}
	}
	m := newSentencePiece(t.tokens, t.types, make([]float32, len(t.tokens)), unk, o)
	m.merges = newMergeTable(len(merges))
	var buf []byte
	for rank, pr := range merges {
		left, ok1 := t.ids[pr[0]]
		right, ok2 := t.ids[pr[1]]
		merged, ok3 := lookupConcat(t.ids, &buf, pr[0], pr[1])
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("merge %d %q %q: token not in vocabulary", rank, pr[0], pr[1])
		}
		m.merges.add(left, right, merge{rank: int32(rank), id: int32(merged)})
	}
	t.spm = m
	return nil
}

func (t *Tokenizer) setupHFWordPiece(model hfModel, normalizers []hfComponent) error {
	t.kind = kindWordPiece
	o := wordPieceOptions{prefix: "##", maxChars: 100, cleanText: true, chineseChars: true, lowercase: true}
	if model.ContinuingSubwordPrefix != nil {
		o.prefix = *model.ContinuingSubwordPrefix
	}
	if model.MaxInputCharsPerWord > 0 {
		o.maxChars = model.MaxInputCharsPerWord
	}
	o.stripAccents = o.lowercase
	for _, n := range normalizers {
		if n.Type != "BertNormalizer" {
			return fmt.Errorf("normalizer %q not supported with WordPiece", n.Type)
		}
		if n.CleanText != nil {
			o.cleanText = *n.CleanText
		}
		if n.HandleChineseChars != nil {
			o.chineseChars = *n.HandleChineseChars
		}
		if n.Lowercase != nil {
			o.lowercase = *n.Lowercase
		}
		o.stripAccents = o.lowercase
		if n.StripAccents != nil {
			o.stripAccents = *n.StripAccents
		}
	}
	if len(normalizers) == 0 {
		o.lowercase, o.stripAccents = false, false
	}
	o.unk = -1
	if model.UnkToken != nil {
		if id, ok := t.ids[*model.UnkToken]; ok {
			o.unk = id
		}
	}
	t.wp = newWordPiece(t.ids, o)
	return nil
}

// setupPostProcessor reads the tokens AddSpecial puts around the text.
func (t *Tokenizer) setupPostProcessor(post []hfComponent) error {
	for _, p := range post {
		switch p.Type {
		case "ByteLevel":
		case "TemplateProcessing":
			seen := false
			for _, item := range p.Single {
				if _, ok := item["Sequence"]; ok {
					seen = true
					continue
				}
				st, ok := item["SpecialToken"]
				if !ok {
					continue
				}
				ids := p.SpecialTokens[st.ID].IDs
				if len(ids) == 0 {
					id, ok := t.ids[st.ID]
					if !ok {
						return fmt.Errorf("TemplateProcessing: unknown special token %q", st.ID)
					}
					ids = []int{id}
				}
				if seen {
					t.suffix = append(t.suffix, ids...)
				} else {
					t.prefix = append(t.prefix, ids...)
				}
			}
		case "BertProcessing", "RobertaProcessing":
			cls, err := processorToken(p.Cls)
			if err != nil {
				return fmt.Errorf("%s cls: %w", p.Type, err)
			}
			sep, err := processorToken(p.Sep)
			if err != nil {
				return fmt.Errorf("%s sep: %w", p.Type, err)
			}
			t.prefix, t.suffix = []int{cls}, []int{sep}
		default:
			return fmt.Errorf("post-processor %q not supported", p.Type)
		}
	}
	return nil
}

// processorToken reads a ["[CLS]", 101] pair.
func processorToken(pair []json.RawMessage) (int, error) {
	if len(pair) != 2 {
		return 0, errors.New("want [token, id]")
	}
	var id int
	if err := json.Unmarshal(pair[1], &id); err != nil {
		return 0, err
	}
	return id, nil
}

// guessSpecialIDs fills BOS/EOS/UNK/PAD/CLS/SEP from the framing tokens and
// conventional names; tokenizer_config.json, when read, overrides them.
func (t *Tokenizer) guessSpecialIDs(unkToken *string) {
	pick := func(names ...string) int {
		for _, n := range names {
			if id, ok := t.ids[n]; ok {
				return id
			}
		}
		return -1
	}
	if unkToken != nil {
		if id, ok := t.ids[*unkToken]; ok {
			t.unk = id
		}
	}
	if t.kind == kindWordPiece {
		t.cls, t.sep = pick("[CLS]"), pick("[SEP]")
		t.pad, t.bos, t.eos = pick("[PAD]"), t.cls, t.sep
		if t.unk < 0 {
			t.unk = pick("[UNK]")
		}
		return
	}
	if len(t.prefix) > 0 {
		t.bos = t.prefix[0]
	} else {
		t.bos = pick("<s>", "<|begin_of_text|>", "<bos>")
	}
	t.eos = pick("</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>")
	t.pad = pick("<pad>", "<|pad|>", "[PAD]")
}

// applyHFConfig reads bos/eos/pad tokens and add_bos/add_eos flags from a
// tokenizer_config.json.
func (t *Tokenizer) applyHFConfig(data []byte) error {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("parse tokenizer_config.json: %w", err)
	}
	tokenID := func(key string) (int, bool) {
		raw, ok := cfg[key]
		if !ok {
			return -1, false
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var obj struct{ Content string }
			if json.Unmarshal(raw, &obj) != nil {
				return -1, true // null
			}
			s = obj.Content
		}
		id, ok := t.ids[s]
		if !ok {
			return -1, true
		}
		return id, true
	}
	if id, ok := tokenID("bos_token"); ok {
		t.bos = id
	}
	if id, ok := tokenID("eos_token"); ok {
		t.eos = id
	}
	if id, ok := tokenID("pad_token"); ok {
		t.pad = id
	}
	flag := func(key string) (bool, bool) {
		var v bool
		raw, ok := cfg[key]
		return v, ok && json.Unmarshal(raw, &v) == nil
	}
	if t.kind != kindWordPiece {
		if v, ok := flag("add_bos_token"); ok && t.bos >= 0 {
			t.prefix = nil
			if v {
				t.prefix = []int{t.bos}
			}
		}
		if v, ok := flag("add_eos_token"); ok && t.eos >= 0 {
			t.suffix = nil
			if v {
				t.suffix = []int{t.eos}
			}
		}
	}
	t.finish()
	return nil
}

// collectAdded registers control, unknown and user-defined tokens of a
// typed vocabulary (SentencePiece or GGUF) as added tokens.
func (t *Tokenizer) collectAdded(includeUnknown bool) {
	t.added = t.added[:0]
	for id, typ := range t.types {
		special := typ == TypeControl || (includeUnknown && typ == TypeUnknown)
		if (special || typ == TypeUserDefined) && t.tokens[id] != "" {
			t.added = append(t.added, addedToken{text: t.tokens[id], id: id, special: special})
		}
	}
}

// recoverParse turns a panic while parsing untrusted input into an error
// (a panic here is a bug, but it must not take the server down).
func recoverParse(t **Tokenizer, err *error, what string) {
	if r := recover(); r != nil {
		*t = nil
		*err = fmt.Errorf("parse %s: malformed input: %v", what, r)
	}
}
