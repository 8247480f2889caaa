package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// wordPieceOptions are BERT's BasicTokenizer switches and WordPiece limits.
type wordPieceOptions struct {
	prefix       string // continuation prefix, "##"
	maxChars     int    // longer words become UNK
	unk          int
	cleanText    bool // drop control characters, map whitespace to spaces
	chineseChars bool // put spaces around CJK ideographs
	lowercase    bool
	stripAccents bool
}

// wordPiece is BERT's tokenizer: basic cleanup and splitting, then greedy
// longest-match-first subwords.
type wordPiece struct {
	wordPieceOptions
	ids map[string]int
}

func newWordPiece(ids map[string]int, o wordPieceOptions) *wordPiece {
	return &wordPiece{wordPieceOptions: o, ids: ids}
}

// isCJK reports whether r is a CJK ideograph in the blocks BERT spaces out.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// isBertPunct is ASCII punctuation (including $+<=>^`|~) or any Unicode P*.
func isBertPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return unicode.IsPunct(r)
}

func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// normalize applies BertNormalizer.
func (w *wordPiece) normalize(text string) string {
	var b strings.Builder
	b.Grow(len(text) + 8)
	for _, r := range text {
		if w.cleanText {
			if r == 0 || r == utf8.RuneError || isBertControl(r) {
				continue
			}
			if unicode.IsSpace(r) {
				r = ' '
			}
		}
		if w.chineseChars && isCJK(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	if w.stripAccents {
		d := norm.NFD.String(s)
		b.Reset()
		for _, r := range d {
			if !unicode.Is(unicode.Mn, r) {
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if w.lowercase {
		s = strings.ToLower(s)
	}
	return s
}

// encode appends the ids of a plain-text segment.
func (w *wordPiece) encode(out []int, text string) []int {
	text = w.normalize(text)
	start := -1 // start of the current word
	for i, r := range text {
		switch {
		case unicode.IsSpace(r):
			if start >= 0 {
				out = w.encodeWord(out, text[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				out = w.encodeWord(out, text[start:i])
				start = -1
			}
			out = w.encodeWord(out, text[i:i+utf8.RuneLen(r)])
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		out = w.encodeWord(out, text[start:])
	}
	return out
}

// encodeWord splits one word greedily into the longest known pieces; a word
// that cannot be split, or is longer than maxChars, becomes UNK.
func (w *wordPiece) encodeWord(out []int, word string) []int {
	if utf8.RuneCountInString(word) > w.maxChars {
		return w.appendUnk(out)
	}
	mark := len(out)
	for start := 0; start < len(word); {
		found := -1
		end := len(word)
		for end > start {
			piece := word[start:end]
			if start > 0 {
				piece = w.prefix + piece
			}
			if id, ok := w.ids[piece]; ok {
				found = id
				break
			}
			// step back one character
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if found < 0 {
			return w.appendUnk(out[:mark])
		}
		out = append(out, found)
		start = end
	}
	return out
}

func (w *wordPiece) appendUnk(out []int) []int {
	if w.unk >= 0 {
		out = append(out, w.unk)
	}
	return out
}

// appendDecoded joins pieces: continuation pieces glue to the previous one,
// other pieces are separated by a space from what came before (started).
func (w *wordPiece) appendDecoded(b *strings.Builder, tok string, started bool) {
	if rest, ok := strings.CutPrefix(tok, w.prefix); ok && w.prefix != "" {
		b.WriteString(rest)
		return
	}
	if started {
		b.WriteByte(' ')
	}
	b.WriteString(tok)
}
