package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// splitStyle names a family of pre-tokenizer regular expressions. Go's
// regexp has no look-ahead, so each family is a hand-written scanner that
// reproduces the leftmost-first alternation of its regex, including the
// `\s+(?!\S)` rule.
type splitStyle int

const (
	// styleGPT2 is
	//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
	styleGPT2 splitStyle = iota + 1
	// styleLlama3 is
	//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}|
	//   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	// with N = 1 for Qwen2 and N = 3 for Llama-3 and GLM-4.
	styleLlama3
)

// preTokenizer splits text into the pieces BPE runs on independently.
type preTokenizer struct {
	style     splitStyle
	maxDigits int // N in \p{N}{1,N} for styleLlama3
}

// Known regexes of Hugging Face Split pre-tokenizers, mapped to scanners.
var knownSplitPatterns = map[string]preTokenizer{
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:      {styleLlama3, 1},
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: {styleLlama3, 3},
	`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`:                                          {styleGPT2, 0},
}

// Character classes used by the scanners.
const (
	classOther   uint8 = iota // [^\s\p{L}\p{N}]
	classLetter               // \p{L}
	classNumber               // \p{N}
	classSpace                // \s other than \r and \n
	classNewline              // \r or \n
)

var asciiClass = func() (c [128]uint8) {
	for i := range c {
		r := rune(i)
		switch {
		case r == '\r' || r == '\n':
			c[i] = classNewline
		case unicode.IsSpace(r):
			c[i] = classSpace
		case unicode.IsLetter(r):
			c[i] = classLetter
		case unicode.IsNumber(r):
			c[i] = classNumber
		default:
			c[i] = classOther
		}
	}
	return c
}()

func classOf(r rune) uint8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	switch {
	case r >= 0x4E00 && r <= 0x9FFF, r >= 0xAC00 && r <= 0xD7A3: // CJK ideographs, Hangul syllables
		return classLetter
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// scanText holds the decoded runes of a text with their classes and byte
// offsets (offs has one extra entry: len(text)).
type scanText struct {
	runes []rune
	class []uint8
	offs  []int
}

func (s *scanText) load(text string) {
	s.runes, s.class, s.offs = s.runes[:0], s.class[:0], s.offs[:0]
	for i, r := range text {
		s.runes = append(s.runes, r)
		s.class = append(s.class, classOf(r))
		s.offs = append(s.offs, i)
	}
	s.offs = append(s.offs, len(text))
}

// split calls emit with each piece of text, in order; the pieces concatenate
// to text.
func (p preTokenizer) split(text string, emit func(piece string)) {
	var s scanText
	s.load(text)
	n := len(s.runes)
	for i := 0; i < n; {
		var j int
		if p.style == styleGPT2 {
			j = s.matchGPT2(i)
		} else {
			j = s.matchLlama3(i, p.maxDigits)
		}
		emit(text[s.offs[i]:s.offs[j]])
		i = j
	}
}

func lowerASCII(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i (case-insensitively when
// fold is set) and returns the end, or -1.
func (s *scanText) contraction(i int, fold bool) int {
	n := len(s.runes)
	if s.runes[i] != '\'' || i+1 >= n {
		return -1
	}
	c := s.runes[i+1]
	if fold {
		c = lowerASCII(c)
	}
	switch c {
	case 's', 't', 'm', 'd':
		return i + 2
	}
	if i+2 >= n {
		return -1
	}
	c2 := s.runes[i+2]
	if fold {
		c2 = lowerASCII(c2)
	}
	if (c == 'r' && c2 == 'e') || (c == 'v' && c2 == 'e') || (c == 'l' && c2 == 'l') {
		return i + 3
	}
	return -1
}

// run returns the end of the run of runes of class c starting at i.
func (s *scanText) run(i int, c uint8) int {
	for i < len(s.runes) && s.class[i] == c {
		i++
	}
	return i
}

// spaceEnd returns the end of the whitespace run (\s, newlines included)
// starting at i.
func (s *scanText) spaceEnd(i int) int {
	for i < len(s.runes) && (s.class[i] == classSpace || s.class[i] == classNewline) {
		i++
	}
	return i
}

// whitespace matches \s+(?!\S)|\s+ at i, where s.runes[i] is whitespace.
func (s *scanText) whitespace(i int) int {
	e := s.spaceEnd(i)
	if e < len(s.runes) && e-i >= 2 {
		return e - 1 // leave the last space to prefix the next word
	}
	return e
}

func (s *scanText) matchLlama3(i, maxDigits int) int {
	n := len(s.runes)
	if j := s.contraction(i, true); j > 0 {
		return j
	}
	c := s.class[i]
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c == classLetter {
		return s.run(i, classLetter)
	}
	if (c == classOther || c == classSpace) && i+1 < n && s.class[i+1] == classLetter {
		return s.run(i+1, classLetter)
	}
	// \p{N}{1,maxDigits}
	if c == classNumber {
		j := i + 1
		for j < n && j-i < maxDigits && s.class[j] == classNumber {
			j++
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	j := i
	if s.runes[j] == ' ' && j+1 < n && s.class[j+1] == classOther {
		j++
	}
	if s.class[j] == classOther {
		j = s.run(j, classOther)
		return s.run(j, classNewline)
	}
	// \s*[\r\n]+ : up to the last newline of the whitespace run.
	e := s.spaceEnd(i)
	for k := e - 1; k >= i; k-- {
		if s.class[k] == classNewline {
			return k + 1
		}
	}
	return s.whitespace(i)
}

func (s *scanText) matchGPT2(i int) int {
	n := len(s.runes)
	if j := s.contraction(i, false); j > 0 {
		return j
	}
	// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
	j := i
	if s.runes[i] == ' ' && i+1 < n && (s.class[i+1] == classLetter || s.class[i+1] == classNumber || s.class[i+1] == classOther) {
		j = i + 1
	}
	switch c := s.class[j]; c {
	case classLetter, classNumber, classOther:
		return s.run(j, c)
	}
	return s.whitespace(i)
}
