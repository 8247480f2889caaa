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
	out := make(analysis.TokenStream, len(toks))
	for i, t := range toks {
		typ := analysis.AlphaNumeric
		switch t.kind {
		case tokenCJK:
			typ = analysis.Ideographic
		case tokenNumber:
			typ = analysis.Numeric
		}
		out[i] = &analysis.Token{Start: t.start, End: t.end, Term: []byte(t.term), Position: i + 1, Type: typ}
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
	// 々 and ー are script-neutral marks used inside Chinese and Japanese words.
	return r == 0x3005 || r == 0x30FC || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// foldRune maps full-width ASCII to half-width and lower-cases letters.
func foldRune(r rune) rune {
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
	var toks []textToken
	type cjkChar struct {
		r          rune
		start, end int
	}
	var run []cjkChar
	flushRun := func() {
		switch len(run) {
		case 0:
		case 1:
			toks = append(toks, textToken{string(run[0].r), run[0].start, run[0].end, tokenCJK})
		default:
			for i := 0; i+1 < len(run); i++ {
				toks = append(toks, textToken{string([]rune{run[i].r, run[i+1].r}), run[i].start, run[i+1].end, tokenCJK})
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
			run = append(run, cjkChar{f, i, i + size})
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
		first, n := utf8.DecodeRuneInString(t.term)
		if n == len(t.term) {
			continue // already a unigram
		}
		out = append(out, textToken{string(first), t.start, t.start + n, tokenCJK})
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
