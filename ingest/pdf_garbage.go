package ingest

import (
	"strings"
	"unicode"
)

// garbageThreshold is the share of suspicious characters above which a
// page's text is treated as undecodable.
const garbageThreshold = 0.3

// textQuality counts a page's characters and the suspicious ones among them.
type textQuality struct {
	chars, bad int
}

// measureText counts non-space runes and, among them, those that mark a
// failed decoding: U+FFFD, private-use code points, control characters and
// Latin-1 Supplement letters and symbols (what GBK or UTF-8 bytes look like
// when read as Latin-1, e.g. "Ä¿ ¡¡ Â¼").
func measureText(s string) textQuality {
	var q textQuality
	for _, r := range s {
		if unicode.IsSpace(r) {
			continue
		}
		q.chars++
		switch {
		case r == '\uFFFD':
			q.bad++
		case r >= 0xE000 && r <= 0xF8FF, r >= 0xF0000:
			q.bad++
		case r < 0x20, r >= 0x7F && r < 0xA0:
			q.bad++
		case r >= 0xA0 && r <= 0xFF && r != 0xB7 && r != 0xD7 && r != 0xF7:
			q.bad++
		}
	}
	return q
}

// share is the fraction of suspicious characters.
func (q textQuality) share() float64 {
	if q.chars == 0 {
		return 0
	}
	return float64(q.bad) / float64(q.chars)
}

// garbled reports whether the text is mostly undecodable. Latin-1 letters
// alone do not make a page garbage in a European-language document, so the
// measure is a share, not a presence test.
func (q textQuality) garbled() bool { return q.chars > 0 && q.share() > garbageThreshold }

// stripUndecodable removes replacement and private-use characters left in
// an otherwise readable page.
func stripUndecodable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\uFFFD' || r >= 0xE000 && r <= 0xF8FF || r >= 0xF0000 {
			return -1
		}
		return r
	}, s)
}
