package retrieval

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
)

// AnalyzerName is the bleve analyzer Lexical registers and uses for passage
// text: every CJK character is a term, and so is every overlapping pair of
// CJK characters; Latin words are lower-cased, numbers are kept whole, and
// full-width ASCII is folded to half-width first. On CMRC 2018 unigrams plus
// bigrams beat bigrams alone (see quality_test.go).
const AnalyzerName = "zhiwen_cjk_unigram_bigram"

func init() {
	err := registry.RegisterAnalyzer(AnalyzerName, func(map[string]interface{}, *registry.Cache) (analysis.Analyzer, error) {
		return cjkAnalyzer{unigrams: true}, nil
	})
	if err != nil {
		panic(err)
	}
}

// cjkAnalyzer adapts textTokens to bleve's Analyzer interface.
type cjkAnalyzer struct {
	// unigrams adds every CJK character as a term besides the bigrams.
	unigrams bool
}

// Analyze implements analysis.Analyzer.
func (a cjkAnalyzer) Analyze(input []byte) analysis.TokenStream {
	toks := textTokens(string(input))
	if a.unigrams {
		toks = withUnigrams(toks)
	}
	// One allocation for all the tokens; a term spelled as in the input
	// (every CJK term, most words) is a capacity-limited slice of it
	// rather than a copy.
	out := make(analysis.TokenStream, len(toks))
	tokens := make([]analysis.Token, len(toks))
	for i, t := range toks {
		typ := analysis.AlphaNumeric
		switch t.kind {
		case tokenCJK:
			typ = analysis.Ideographic
		case tokenNumber:
			typ = analysis.Numeric
		}
		var term []byte
		if t.end-t.start == len(t.term) && string(input[t.start:t.end]) == t.term {
			term = input[t.start:t.end:t.end]
		} else {
			term = []byte(t.term)
		}
		tokens[i] = analysis.Token{Start: t.start, End: t.end, Term: term, Position: i + 1, Type: typ}
		out[i] = &tokens[i]
	}
	return out
}

type tokenKind uint8

const (
	tokenWord tokenKind = iota
	tokenNumber
	tokenCJK
)

// textToken is one term with its byte offsets in the original text.
type textToken struct {
	term       string
	start, end int
	kind       tokenKind
}

// isCJK reports whether r is written without spaces between words
// (Han, kana, Hangul), so that it is indexed as character n-grams.
func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	if r >= 0x3400 && r <= 0x9FFF { // CJK Unified Ideographs and Extension A: most Chinese text
		return r <= 0x4DBF || r >= 0x4E00
	}
	// 々 and ー are script-neutral marks used inside Chinese and Japanese words.
	return r == 0x3005 || r == 0x30FC || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// foldRune maps full-width ASCII to half-width and lower-cases letters.
func foldRune(r rune) rune {
	switch {
	case r < 0x80: // ASCII: the common cases, without the case tables
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	case r >= 0x3400 && r <= 0x9FFF: // CJK ideographs have no case
		return r
	}
	if r >= 0xFF01 && r <= 0xFF5E {
		r -= 0xFEE0
	} else if r == 0x3000 {
		r = ' '
	}
	return unicode.ToLower(r)
}

// textTokens splits text into index terms: overlapping bigrams over each run
// of CJK characters (a run of one gives a unigram), and whole words of
// letters or digits elsewhere (a '.' between digits stays inside a number).
func textTokens(text string) []textToken {
	toks := make([]textToken, 0, len(text)/3+4) // about one term per CJK character
	type cjkChar struct {
		r          rune
		start, end int
		folded     bool // r differs from the character in text
	}
	var run []cjkChar
	// term spells run[i:j] as in text (no allocation) unless folding
	// changed one of its characters.
	term := func(i, j int) string {
		for _, c := range run[i:j] {
			if c.folded {
				var b []byte
				for _, c := range run[i:j] {
					b = utf8.AppendRune(b, c.r)
				}
				return string(b)
			}
		}
		return text[run[i].start:run[j-1].end]
	}
	flushRun := func() {
		switch len(run) {
		case 0:
		case 1:
			toks = append(toks, textToken{term(0, 1), run[0].start, run[0].end, tokenCJK})
		default:
			for i := 0; i+1 < len(run); i++ {
				toks = append(toks, textToken{term(i, i+2), run[i].start, run[i+1].end, tokenCJK})
			}
		}
		run = run[:0]
	}
	var word strings.Builder
	wordStart, wordDigits, wordLetters := -1, false, false
	flushWord := func(end int) {
		if wordStart < 0 {
			return
		}
		kind := tokenWord
		if wordDigits && !wordLetters {
			kind = tokenNumber
		}
		toks = append(toks, textToken{word.String(), wordStart, end, kind})
		word.Reset()
		wordStart, wordDigits, wordLetters = -1, false, false
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		f := foldRune(r)
		switch {
		case isCJK(f):
			flushWord(i)
			run = append(run, cjkChar{f, i, i + size, f != r})
		case unicode.IsLetter(f) || unicode.IsDigit(f) || unicode.Is(unicode.Mn, f):
			flushRun()
			if wordStart < 0 {
				wordStart = i
			}
			if unicode.IsDigit(f) {
				wordDigits = true
			} else {
				wordLetters = true
			}
			word.WriteRune(f)
		case f == '.' && wordStart >= 0 && wordDigits && !wordLetters && i+size < len(text) && isASCIIDigitAt(text, i+size):
			word.WriteRune(f)
		default:
			flushRun()
			flushWord(i)
		}
		i += size
	}
	flushRun()
	flushWord(len(text))
	return toks
}

// withUnigrams adds the single characters of CJK bigrams to toks (a lone
// CJK character is already a unigram), each once per occurrence in the text.
func withUnigrams(toks []textToken) []textToken {
	out := make([]textToken, 0, 2*len(toks)+1)
	for i, t := range toks {
		out = append(out, t)
		if t.kind != tokenCJK {
			continue
		}
		_, n := utf8.DecodeRuneInString(t.term)
		if n == len(t.term) {
			continue // already a unigram
		}
		out = append(out, textToken{t.term[:n], t.start, t.start + n, tokenCJK})
		// the run's last character, after its last bigram
		if i+1 == len(toks) || toks[i+1].kind != tokenCJK || toks[i+1].start != t.start+n {
			out = append(out, textToken{t.term[n:], t.start + n, t.end, tokenCJK})
		}
	}
	return out
}

func isASCIIDigitAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	r = foldRune(r)
	return r >= '0' && r <= '9'
}

// questionWords are interrogative words that carry no content in Chinese
// questions; queryText blanks them out so their bigrams do not dilute BM25.
var questionWords = []string{
	"为什么", "怎么样", "是什么", "什么", "哪里", "哪个", "哪些", "哪儿", "哪一", "多少", "几个", "怎么", "如何", "是否", "谁", "哪", "吗", "呢",
}

// queryText prepares a search question for the analyzer by replacing
// interrogative words with a space, so that "北京是什么时候成立的" is searched
// as "北京", "时候成立的".
func queryText(q string) string {
	for _, w := range questionWords {
		if strings.Contains(q, w) {
			q = strings.ReplaceAll(q, w, " ")
		}
	}
	return q
}
