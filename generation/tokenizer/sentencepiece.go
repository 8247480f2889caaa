package tokenizer

import (
	"fmt"
	"math"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// spaceMark is SentencePiece's visible space, U+2581.
const spaceMark = "\u2581"

// sentencePiece is a SentencePiece model: BPE (merge the adjacent pair whose
// merged piece scores highest) or Unigram (Viterbi over piece scores).
type sentencePiece struct {
	unigram                bool
	pieces                 map[string]int // normal, user-defined and unused pieces
	scores                 []float32
	types                  []int32
	byteID                 [256]int // <0xNN> pieces, -1 when absent
	byteFallback           bool
	unk                    int
	addDummyPrefix         bool
	removeExtraWhitespaces bool
	escapeWhitespaces      bool
	nfkc                   bool    // approximates an nmt_nfkc / nfkc normalizer
	maxPieceLen            int     // bytes, for Unigram lattice building
	minScore               float32 // lowest normal-piece score, for Unigram's unknown penalty
	// prefixFirstOnly adds the dummy prefix only at the start of the text,
	// not after special tokens (Metaspace prepend_scheme "first").
	prefixFirstOnly bool
	// merges, when set, switches BPE from SentencePiece's score order to
	// Hugging Face's merge-rank order (tokenizer.json files).
	merges *mergeTable
}

// LoadSentencePieceModel reads a SentencePiece tokenizer.model file.
func LoadSentencePieceModel(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load sentencepiece model: %w", err)
	}
	t, err := FromSentencePieceModel(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return t, nil
}

// FromSentencePieceModel builds a tokenizer from the bytes of a SentencePiece
// tokenizer.model (a serialized ModelProto), as shipped with Llama-2 and
// ChatGLM3. AddSpecial prepends BOS, as the Llama tokenizer does.
func FromSentencePieceModel(data []byte) (t *Tokenizer, err error) {
	defer recoverParse(&t, &err, "sentencepiece model")
	mp, err := parseSentencePieceModel(data)
	if err != nil {
		return nil, fmt.Errorf("parse sentencepiece model: %w", err)
	}
	if mp.modelType != 1 && mp.modelType != 2 {
		return nil, fmt.Errorf("parse sentencepiece model: model type %d not supported (only unigram and BPE)", mp.modelType)
	}
	n := len(mp.pieces)
	t = &Tokenizer{kind: kindSentencePiece, tokens: make([]string, n), types: make([]int32, n),
		ids: make(map[string]int, n), bos: -1, eos: -1, unk: -1, pad: -1, sep: -1, cls: -1}
	scores := make([]float32, n)
	for i, p := range mp.pieces {
		t.tokens[i], t.types[i], scores[i] = p.piece, p.typ, p.score
		if _, dup := t.ids[p.piece]; !dup {
			t.ids[p.piece] = i
		}
	}
	valid := func(id int) int {
		if id >= 0 && id < n {
			return id
		}
		return -1
	}
	t.bos, t.eos, t.unk, t.pad = valid(mp.bosID), valid(mp.eosID), valid(mp.unkID), valid(mp.padID)
	if t.bos >= 0 {
		t.prefix = []int{t.bos}
	}
	name := strings.ToLower(mp.normalizerName)
	t.spm = newSentencePiece(t.tokens, t.types, scores, t.unk, spOptions{
		unigram:                mp.modelType == 1,
		byteFallback:           mp.byteFallback,
		addDummyPrefix:         mp.addDummyPrefix,
		removeExtraWhitespaces: mp.removeExtraWhitespaces,
		escapeWhitespaces:      mp.escapeWhitespaces,
		nfkc:                   mp.hasCharsMap && strings.Contains(name, "nfkc"),
	})
	t.collectAdded(true)
	t.finish()
	return t, nil
}

// spOptions are the switches of a SentencePiece model.
type spOptions struct {
	unigram, byteFallback                                     bool
	addDummyPrefix, removeExtraWhitespaces, escapeWhitespaces bool
	prefixFirstOnly                                           bool
	nfkc                                                      bool
}

func newSentencePiece(tokens []string, types []int32, scores []float32, unk int, o spOptions) *sentencePiece {
	m := &sentencePiece{unigram: o.unigram, pieces: make(map[string]int, len(tokens)), scores: scores, types: types,
		byteFallback: o.byteFallback, unk: unk, addDummyPrefix: o.addDummyPrefix,
		removeExtraWhitespaces: o.removeExtraWhitespaces, escapeWhitespaces: o.escapeWhitespaces,
		prefixFirstOnly: o.prefixFirstOnly, nfkc: o.nfkc}
	for i := range m.byteID {
		m.byteID[i] = -1
	}
	m.minScore = float32(math.MaxFloat32)
	for id, tok := range tokens {
		switch types[id] {
		case TypeNormal, TypeUserDefined, TypeUnused:
			if _, dup := m.pieces[tok]; !dup {
				m.pieces[tok] = id
			}
			m.maxPieceLen = max(m.maxPieceLen, len(tok))
			if types[id] == TypeNormal && scores[id] < m.minScore {
				m.minScore = scores[id]
			}
		case TypeByte:
			if b, ok := parseByteToken(tok); ok && m.byteID[b] < 0 {
				m.byteID[b] = id
			}
		}
	}
	if m.minScore == float32(math.MaxFloat32) {
		m.minScore = 0
	}
	return m
}

// parseByteToken reads a byte piece spelled <0xNN>.
func parseByteToken(tok string) (byte, bool) {
	if len(tok) != 6 || !strings.HasPrefix(tok, "<0x") || tok[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(tok[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

// normalize applies the model's normalizer to one text segment: optional
// NFKC, whitespace cleanup, the dummy prefix (only at the start of the text
// or after a special token) and ▁ for spaces.
func (m *sentencePiece) normalize(text string, segmentStart bool) string {
	if m.nfkc {
		text = norm.NFKC.String(text)
	}
	if m.removeExtraWhitespaces {
		text = strings.Join(strings.FieldsFunc(text, func(r rune) bool { return r == ' ' }), " ")
	}
	if text == "" {
		return ""
	}
	if m.addDummyPrefix && segmentStart {
		text = " " + text
	}
	if m.escapeWhitespaces {
		text = strings.ReplaceAll(text, " ", spaceMark)
	}
	return text
}

// encode appends the ids of a plain-text segment.
func (m *sentencePiece) encode(out []int, text string, segmentStart bool) []int {
	text = m.normalize(text, segmentStart)
	if text == "" {
		return out
	}
	switch {
	case m.unigram:
		return m.encodeUnigram(out, text)
	case m.merges != nil:
		return m.encodeRankBPE(out, text)
	}
	return m.encodeBPE(out, text)
}

// encodeRankBPE starts from one symbol per character (its byte pieces, or
// UNK, when the character is not a piece) and applies merges by rank.
func (m *sentencePiece) encodeRankBPE(out []int, text string) []int {
	syms := make([]int, 0, len(text))
	lastUnk := false
	for i := 0; i < len(text); {
		_, w := utf8.DecodeRuneInString(text[i:])
		if id, ok := m.pieces[text[i:i+w]]; ok {
			syms = append(syms, id)
			lastUnk = false
		} else {
			syms = m.appendUnknown(syms, text[i:i+w], &lastUnk)
		}
		i += w
	}
	return append(out, applyMerges(syms, m.merges)...)
}

// spCandidate is a pair of adjacent symbols whose concatenation is a piece.
type spCandidate struct {
	score       float32
	left, right int32
	size        int32 // bytes of the merged piece, to detect stale entries
}

// before orders merge candidates for the heap: higher score first, then
// leftmost.
func (a spCandidate) before(b spCandidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

// encodeBPE runs SentencePiece BPE over the characters of text.
func (m *sentencePiece) encodeBPE(out []int, text string) []int {
	// Symbols are byte ranges [start[i], end[i]) of text in a linked list.
	var start, end, prev, next []int32
	for i := 0; i < len(text); {
		_, w := utf8.DecodeRuneInString(text[i:])
		k := int32(len(start))
		start = append(start, int32(i))
		end = append(end, int32(i+w))
		prev = append(prev, k-1)
		next = append(next, k+1)
		i += w
	}
	n := int32(len(start))
	next[n-1] = -1
	// Unused pieces are merged through but split back afterwards.
	var revMerge map[string][2]string
	var h minHeap[spCandidate]
	consider := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		piece := text[start[l]:end[r]]
		id, ok := m.pieces[piece]
		if !ok {
			return
		}
		h.push(spCandidate{score: m.scores[id], left: l, right: r, size: end[r] - start[l]})
		if m.types[id] == TypeUnused {
			if revMerge == nil {
				revMerge = map[string][2]string{}
			}
			revMerge[piece] = [2]string{text[start[l]:end[l]], text[start[r]:end[r]]}
		}
	}
	for i := int32(0); i+1 < n; i++ {
		consider(i, i+1)
	}
	for len(h) > 0 {
		c := h.pop()
		if start[c.left] < 0 || start[c.right] < 0 || next[c.left] != c.right || end[c.right]-start[c.left] != c.size {
			continue
		}
		end[c.left] = end[c.right]
		start[c.right] = -1
		nr := next[c.right]
		next[c.left] = nr
		if nr >= 0 {
			prev[nr] = c.left
		}
		consider(prev[c.left], c.left)
		consider(c.left, nr)
	}
	lastUnk := false
	for i := int32(0); i >= 0; i = next[i] {
		out = m.appendPiece(out, text[start[i]:end[i]], revMerge, &lastUnk)
	}
	return out
}

// appendPiece appends the id of a final symbol, splitting unused pieces
// back and falling back to bytes (or UNK) for characters not in the vocabulary.
func (m *sentencePiece) appendPiece(out []int, piece string, revMerge map[string][2]string, lastUnk *bool) []int {
	if id, ok := m.pieces[piece]; ok && m.types[id] != TypeUnused {
		*lastUnk = false
		return append(out, id)
	}
	if parts, ok := revMerge[piece]; ok {
		out = m.appendPiece(out, parts[0], revMerge, lastUnk)
		return m.appendPiece(out, parts[1], revMerge, lastUnk)
	}
	return m.appendUnknown(out, piece, lastUnk)
}

// appendUnknown appends the byte pieces of text, or one UNK for a run of
// unknown characters when the model has no byte fallback.
func (m *sentencePiece) appendUnknown(out []int, text string, lastUnk *bool) []int {
	if m.byteFallback {
		ok := true
		for i := 0; i < len(text); i++ {
			if m.byteID[text[i]] < 0 {
				ok = false
			}
		}
		if ok {
			for i := 0; i < len(text); i++ {
				out = append(out, m.byteID[text[i]])
			}
			*lastUnk = false
			return out
		}
	}
	if *lastUnk || m.unk < 0 {
		return out
	}
	*lastUnk = true
	return append(out, m.unk)
}

// encodeUnigram picks the segmentation with the highest total score
// (Viterbi); a character no piece covers costs the lowest score minus 10.
func (m *sentencePiece) encodeUnigram(out []int, text string) []int {
	n := len(text)
	best := make([]float64, n+1)
	from := make([]int, n+1) // start of the last piece ending here
	pieceID := make([]int, n+1)
	for i := 1; i <= n; i++ {
		best[i] = math.Inf(-1)
	}
	unkScore := float64(m.minScore) - 10
	for i := 0; i < n; i++ {
		if math.IsInf(best[i], -1) || (i > 0 && !utf8.RuneStart(text[i])) {
			continue
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		covered := false
		for j := i + 1; j <= n && j-i <= m.maxPieceLen; j++ {
			id, ok := m.pieces[text[i:j]]
			if !ok || m.types[id] == TypeUnused {
				continue
			}
			score := float64(m.scores[id])
			if m.types[id] == TypeUserDefined {
				score = float64(j-i) * 0.1 // user-defined pieces always win
			}
			if j-i == size {
				covered = true
			}
			if s := best[i] + score; s > best[j] {
				best[j], from[j], pieceID[j] = s, i, id
			}
		}
		if !covered {
			if s := best[i] + unkScore; s > best[i+size] {
				best[i+size], from[i+size], pieceID[i+size] = s, i, -1
			}
		}
	}
	var ends []int
	for j := n; j > 0; j = from[j] {
		ends = append(ends, j)
	}
	lastUnk := false
	for k := len(ends) - 1; k >= 0; k-- {
		j := ends[k]
		if id := pieceID[j]; id >= 0 {
			out = append(out, id)
			lastUnk = false
		} else {
			out = m.appendUnknown(out, text[from[j]:j], &lastUnk)
		}
	}
	return out
}

// appendDecoded writes one token: byte pieces as their byte, ▁ as a space,
// and the dummy-prefix space dropped from the first piece of a segment.
func (m *sentencePiece) appendDecoded(b *strings.Builder, tok string, typ int32, segmentStart bool) {
	if typ == TypeByte {
		if v, ok := parseByteToken(tok); ok {
			b.WriteByte(v)
		}
		return
	}
	if m.escapeWhitespaces {
		tok = strings.ReplaceAll(tok, spaceMark, " ")
	}
	if segmentStart && m.addDummyPrefix {
		tok = strings.TrimPrefix(tok, " ")
	}
	b.WriteString(tok)
}
