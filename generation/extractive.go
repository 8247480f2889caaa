package generation

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RefusalZH and RefusalEN are the answers given when the passages do not
// support an answer.
const (
	RefusalZH = "根据已知信息无法回答该问题。"
	RefusalEN = "The provided documents do not contain enough information to answer this question."
)

// Extractive answers without a generative model: it picks the sentences (or
// table rows) of the retrieved passages that best cover the question's terms
// and returns them with citation markers. It is what the product uses on
// first start, before any model is configured.
type Extractive struct {
	// MaxSentences caps how many sentences an answer quotes (default 3).
	MaxSentences int
	// MinCoverage is the share of the question's term weight that the best
	// sentence must cover; below it the answer is a refusal (default 0.3).
	MinCoverage float64
}

// sentence is one candidate unit of an extractive answer.
type sentence struct {
	source int // index into passages
	pos    int // position within the passage
	text   string
	terms  map[string]bool
	score  float64
	cover  float64
}

// Answer returns the extractive answer text for question over passages
// (cited as [n] by their N) and whether it is a refusal.
func (e Extractive) Answer(question string, passages []Source) (string, bool) {
	maxSent := e.MaxSentences
	if maxSent <= 0 {
		maxSent = 3
	}
	minCover := e.MinCoverage
	if minCover <= 0 {
		minCover = 0.3
	}
	zh := hasCJK(question)
	refusal := RefusalEN
	if zh {
		refusal = RefusalZH
	}
	qterms := queryTerms(question)
	if len(qterms) == 0 || len(passages) == 0 {
		return refusal, true
	}

	var cands []sentence
	for i, p := range passages {
		for j, s := range splitSentences(p.Text) {
			cands = append(cands, sentence{source: i, pos: j, text: s})
		}
	}
	if len(cands) == 0 {
		return refusal, true
	}
	// Inverse document frequency of each question term over the candidate
	// sentences: a term that appears everywhere says little.
	idf := make(map[string]float64, len(qterms))
	var total float64
	for i := range cands {
		cands[i].terms = termSet(cands[i].text)
	}
	for t := range qterms {
		df := 0
		for _, c := range cands {
			if c.terms[t] {
				df++
			}
		}
		w := math.Log(1 + float64(len(cands))/float64(1+df))
		idf[t] = w
		total += w
	}
	if total == 0 {
		return refusal, true
	}
	for i := range cands {
		var s float64
		for t := range qterms {
			if cands[i].terms[t] {
				s += idf[t]
			}
		}
		cands[i].cover = s / total
		// Prefer higher-ranked passages slightly, and shorter sentences at equal coverage.
		rankBoost := 1 / (1 + 0.1*float64(cands[i].source))
		lengthPenalty := 1 / (1 + float64(utf8.RuneCountInString(cands[i].text))/400)
		cands[i].score = cands[i].cover * rankBoost * (0.8 + 0.2*lengthPenalty)
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
	if cands[0].cover < minCover {
		return refusal, true
	}
	// Greedy selection: the best sentence, then others only while they are
	// nearly as good and cover question terms the picked ones do not.
	best := cands[0].score
	var picked []sentence
	covered := map[string]bool{}
	for _, c := range cands {
		if len(picked) == maxSent || c.score < 0.6*best || c.cover < minCover {
			break
		}
		var gain float64
		for t := range qterms {
			if c.terms[t] && !covered[t] {
				gain += idf[t]
			}
		}
		if len(picked) > 0 && gain < 0.15*total {
			continue
		}
		for t := range qterms {
			if c.terms[t] {
				covered[t] = true
			}
		}
		picked = append(picked, c)
	}
	// Quote in reading order: by passage rank, then position.
	sort.SliceStable(picked, func(a, b int) bool {
		if picked[a].source != picked[b].source {
			return picked[a].source < picked[b].source
		}
		return picked[a].pos < picked[b].pos
	})
	var b strings.Builder
	for i, c := range picked {
		if i > 0 {
			b.WriteString("\n")
		}
		text := c.text
		if cells, ok := tableCells(text); ok {
			text = focusRow(cells, qterms)
		}
		b.WriteString(strings.TrimSpace(text))
		b.WriteString(" [")
		b.WriteString(strconv.Itoa(passages[c.source].N))
		b.WriteString("]")
	}
	return b.String(), false
}

// splitSentences cuts a passage into sentences and table rows.
func splitSentences(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, ok := tableCells(line); ok {
			out = append(out, line)
			continue
		}
		start := 0
		rs := []rune(line)
		for i, r := range rs {
			end := false
			switch r {
			case '。', '！', '？', '；', '!', '?', ';':
				end = true
			case '.':
				end = i+1 == len(rs) || rs[i+1] == ' '
			}
			if end {
				// Keep closing quotes and brackets with the sentence.
				j := i + 1
				for j < len(rs) && strings.ContainsRune("”’」』）)\"'", rs[j]) {
					j++
				}
				if s := strings.TrimSpace(string(rs[start:j])); s != "" {
					out = append(out, s)
				}
				start = j
			}
		}
		if s := strings.TrimSpace(string(rs[min(start, len(rs)):])); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// tableCells splits a table row rendered by the loaders as
// "header: value; header: value" into its cells.
func tableCells(line string) ([][2]string, bool) {
	parts := strings.Split(line, "; ")
	if len(parts) < 2 {
		return nil, false
	}
	cells := make([][2]string, 0, len(parts))
	for _, p := range parts {
		k, v, ok := strings.Cut(p, ": ")
		if !ok {
			return nil, false
		}
		cells = append(cells, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return cells, true
}

// focusRow keeps a table row's first cell (its label) and the cells whose
// header or value the question mentions, so that "一线城市部门经理住宿标准"
// quotes the manager's column rather than the whole row.
func focusRow(cells [][2]string, qterms map[string]bool) string {
	keep := []int{0}
	for i := 1; i < len(cells); i++ {
		ts := termSet(cells[i][0] + " " + cells[i][1])
		for t := range ts {
			if qterms[t] {
				keep = append(keep, i)
				break
			}
		}
	}
	if len(keep) == 1 {
		keep = keep[:0]
		for i := range cells {
			keep = append(keep, i)
		}
	}
	var b strings.Builder
	for n, i := range keep {
		if n > 0 {
			b.WriteString("；")
		}
		b.WriteString(cells[i][0])
		b.WriteString("：")
		b.WriteString(cells[i][1])
	}
	return b.String()
}

// questionWords carry no content and are dropped from the question's terms.
var questionWords = []string{
	"什么", "多少", "哪些", "哪个", "哪里", "哪儿", "怎么", "怎样", "如何", "为什么", "是否", "是不是",
	"请问", "吗", "呢", "吧", "呀", "的", "了", "是", "有", "在", "和", "与", "及", "或",
}

var englishStop = map[string]bool{
	"the": true, "a": true, "an": true, "is": true, "are": true, "was": true, "were": true, "what": true,
	"which": true, "who": true, "whom": true, "how": true, "why": true, "when": true, "where": true,
	"do": true, "does": true, "did": true, "of": true, "in": true, "on": true, "for": true, "to": true,
	"and": true, "or": true, "it": true, "its": true, "this": true, "that": true, "be": true, "by": true,
	"with": true, "can": true, "i": true, "we": true, "you": true, "much": true, "many": true,
}

// queryTerms are the content terms of a question: CJK character bigrams
// (after dropping question words) and lower-cased Latin words and numbers.
func queryTerms(q string) map[string]bool {
	for _, w := range questionWords {
		q = strings.ReplaceAll(q, w, " ")
	}
	ts := termSet(q)
	for t := range ts {
		if englishStop[t] {
			delete(ts, t)
		}
	}
	return ts
}

// termSet splits text into CJK bigrams (unigrams for isolated characters)
// and lower-cased Latin words and numbers.
func termSet(text string) map[string]bool {
	out := map[string]bool{}
	var run []rune
	flushCJK := func() {
		if len(run) == 1 {
			out[string(run)] = true
		}
		for i := 0; i+1 < len(run); i++ {
			out[string(run[i:i+2])] = true
		}
		run = run[:0]
	}
	var word []rune
	flushWord := func() {
		if len(word) > 0 {
			out[strings.ToLower(string(word))] = true
			word = word[:0]
		}
	}
	for _, r := range text {
		switch {
		case isCJK(r):
			flushWord()
			run = append(run, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushCJK()
			word = append(word, r)
		default:
			flushCJK()
			flushWord()
		}
	}
	flushCJK()
	flushWord()
	return out
}

func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r)
}

func hasCJK(s string) bool {
	for _, r := range s {
		if isCJK(r) {
			return true
		}
	}
	return false
}
