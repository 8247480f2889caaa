package ingest

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

type fontKind int

const (
	fontSimple fontKind = iota // Type1, TrueType, MMType1: one byte per code
	fontType3                  // glyphs drawn by content procedures
	fontType0                  // composite (CID) font: codes of 1-4 bytes
)

// cmapFamily is how a Type0 font's Encoding CMap turns codes into text
// when there is no ToUnicode map.
type cmapFamily int

const (
	familyUnknown  cmapFamily = iota
	familyIdentity            // code = CID; text only through ToUnicode
	familyUCS2                // codes are UCS-2 big-endian
	familyUTF16               // codes are UTF-16 big-endian (2 or 4 bytes)
	familyGBK                 // GBK / GB2312 EUC bytes
	familyGB18030             // GBK2K: GB18030 bytes, 1, 2 or 4 per code
	familyBig5                // Big5 bytes
	familyShiftJIS            // Shift-JIS bytes
	familyEUCJP               // Japanese EUC bytes
	familyEUCKR               // Korean EUC / UHC bytes
)

// cmapFamilyFor classifies a predefined CMap name (PDF 32000-1 table 118).
func cmapFamilyFor(name string) cmapFamily {
	switch {
	case name == "Identity-H" || name == "Identity-V":
		return familyIdentity
	case strings.Contains(name, "UCS2"):
		return familyUCS2
	case strings.Contains(name, "UTF16"):
		return familyUTF16
	case strings.HasPrefix(name, "GBK2K"):
		return familyGB18030
	case strings.HasPrefix(name, "GB"):
		return familyGBK
	case strings.Contains(name, "B5"):
		return familyBig5
	case strings.Contains(name, "RKSJ"):
		return familyShiftJIS
	case name == "EUC-H" || name == "EUC-V":
		return familyEUCJP
	case strings.HasPrefix(name, "KSC"):
		return familyEUCKR
	}
	return familyUnknown
}

// pdfFont decodes the strings shown with one font: how they split into
// codes, how far each code advances, and what text each code stands for.
type pdfFont struct {
	kind      fontKind
	toUnicode *pdfCMap
	libEnc    pdf.TextEncoding // simple fonts: the library's WinAnsi/MacRoman/Differences decoding
	// type3Names maps codes to glyph names from a Type3 font's Differences.
	type3Names map[byte]string
	family     cmapFamily
	encCMap    *pdfCMap // an embedded Encoding CMap of a Type0 font
	vertical   bool

	firstChar  int
	widths     []float64
	missing    float64
	dw         float64
	cidWidths  map[int]float64
	widthScale float64 // glyph units to text space: 0.001, or a Type3 FontMatrix
	// gbkCandidate marks a simple font with no ToUnicode and no high-range
	// Differences, whose bytes may really be GBK (a common Chinese producer bug).
	gbkCandidate bool

	cache map[string]string
}

// newPDFFont interprets a font dictionary. It never fails: what it cannot
// read falls back to defaults, and undecodable codes come out as U+FFFD.
func newPDFFont(v pdf.Value) *pdfFont {
	f := &pdfFont{widthScale: 0.001, cache: map[string]string{}}
	if tu := v.Key("ToUnicode"); tu.Kind() == pdf.Stream {
		if m, err := readStreamCMap(tu); err == nil && (len(m.uni) > 0) {
			f.toUnicode = m
		}
	}
	switch v.Key("Subtype").Name() {
	case "Type0":
		f.kind = fontType0
		f.initType0(v)
	case "Type3":
		f.kind = fontType3
		f.initSimple(v)
		if fm := v.Key("FontMatrix"); fm.Len() == 6 && fm.Index(0).Float64() != 0 {
			f.widthScale = fm.Index(0).Float64()
		}
		f.type3Names = map[byte]string{}
		diffs := v.Key("Encoding").Key("Differences")
		code := -1
		for i := 0; i < diffs.Len(); i++ {
			x := diffs.Index(i)
			switch x.Kind() {
			case pdf.Integer:
				code = int(x.Int64())
			case pdf.Name:
				if code >= 0 && code < 256 {
					f.type3Names[byte(code)] = x.Name()
				}
				code++
			}
		}
	default:
		f.kind = fontSimple
		f.initSimple(v)
		enc := v.Key("Encoding")
		highDiffs := false
		diffs := enc.Key("Differences")
		code := -1
		for i := 0; i < diffs.Len(); i++ {
			x := diffs.Index(i)
			switch x.Kind() {
			case pdf.Integer:
				code = int(x.Int64())
			case pdf.Name:
				if code >= 0x80 {
					highDiffs = true
				}
				code++
			}
		}
		f.gbkCandidate = f.toUnicode == nil && !highDiffs
	}
	return f
}

func (f *pdfFont) initSimple(v pdf.Value) {
	lf := pdf.Font{V: v}
	f.libEnc = safeEncoder(&lf)
	f.firstChar = int(v.Key("FirstChar").Int64())
	w := v.Key("Widths")
	n := min(w.Len(), 256)
	f.widths = make([]float64, n)
	for i := range n {
		f.widths[i] = w.Index(i).Float64()
	}
	f.missing = v.Key("FontDescriptor").Key("MissingWidth").Float64()
	if f.missing == 0 {
		f.missing = 500
	}
}

// safeEncoder returns the library's encoder for a simple font, or nil when
// building it panics on a malformed font.
func safeEncoder(lf *pdf.Font) (enc pdf.TextEncoding) {
	defer func() {
		if recover() != nil {
			enc = nil
		}
	}()
	return lf.Encoder()
}

func (f *pdfFont) initType0(v pdf.Value) {
	enc := v.Key("Encoding")
	switch enc.Kind() {
	case pdf.Name:
		f.family = cmapFamilyFor(enc.Name())
		f.vertical = strings.HasSuffix(enc.Name(), "-V")
	case pdf.Stream:
		if m, err := readStreamCMap(enc); err == nil {
			f.encCMap = m
			f.family = cmapFamilyFor(m.useCMap)
			if f.family == familyUnknown {
				f.family = familyIdentity
			}
		}
		f.vertical = enc.Key("WMode").Int64() == 1
	}
	desc := v.Key("DescendantFonts").Index(0)
	f.dw = 1000
	if dw := desc.Key("DW"); dw.Kind() == pdf.Integer || dw.Kind() == pdf.Real {
		f.dw = dw.Float64()
	}
	f.cidWidths = map[int]float64{}
	w := desc.Key("W")
	for i := 0; i < w.Len() && len(f.cidWidths) < 1<<16; {
		first := int(w.Index(i).Int64())
		next := w.Index(i + 1)
		if next.Kind() == pdf.Array {
			for k := 0; k < next.Len() && len(f.cidWidths) < 1<<16; k++ {
				f.cidWidths[first+k] = next.Index(k).Float64()
			}
			i += 2
			continue
		}
		last := int(next.Int64())
		width := w.Index(i + 2).Float64()
		for c := first; c <= last && c-first < 1<<16; c++ {
			f.cidWidths[c] = width
		}
		i += 3
	}
}

func readStreamCMap(v pdf.Value) (m *pdfCMap, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, errPanic{r}
		}
	}()
	rc := v.Reader()
	defer rc.Close()
	return parseCMap(rc)
}

type errPanic struct{ v any }

func (e errPanic) Error() string { return "panic: " + strings.TrimSpace(stringOf(e.v)) }

func stringOf(v any) string {
	switch x := v.(type) {
	case error:
		return x.Error()
	case string:
		return x
	}
	return "unexpected failure"
}

// splitCodes cuts a shown string into character codes.
func (f *pdfFont) splitCodes(s string) []string {
	if f.kind != fontType0 {
		codes := make([]string, len(s))
		for i := range len(s) {
			codes[i] = s[i : i+1]
		}
		return codes
	}
	var codes []string
	for i := 0; i < len(s); {
		n := f.codeLen([]byte(s[i:]))
		n = max(1, min(n, len(s)-i))
		codes = append(codes, s[i:i+n])
		i += n
	}
	return codes
}

func (f *pdfFont) codeLen(b []byte) int {
	if f.encCMap != nil && len(f.encCMap.space) > 0 {
		if n := f.encCMap.codeLen(b); n > 0 {
			return n
		}
		return 1
	}
	c := b[0]
	switch f.family {
	case familyUTF16:
		if c >= 0xD8 && c <= 0xDB {
			return 4
		}
		return 2
	case familyGBK, familyBig5, familyEUCKR:
		if c <= 0x80 {
			return 1
		}
		return 2
	case familyGB18030:
		if c <= 0x80 {
			return 1
		}
		if len(b) > 1 && b[1] >= 0x30 && b[1] <= 0x39 {
			return 4
		}
		return 2
	case familyShiftJIS:
		if c >= 0x81 && c <= 0x9F || c >= 0xE0 && c <= 0xFC {
			return 2
		}
		return 1
	case familyEUCJP:
		switch {
		case c == 0x8F:
			return 3
		case c == 0x8E || c >= 0xA1 && c <= 0xFE:
			return 2
		}
		return 1
	case familyUnknown:
		if f.toUnicode != nil && len(f.toUnicode.space) > 0 {
			if n := f.toUnicode.codeLen(b); n > 0 {
				return n
			}
		}
	}
	return 2
}

// width is a code's advance in text space per unit of font size.
func (f *pdfFont) width(code string) float64 {
	if f.kind != fontType0 {
		c := int(code[0]) - f.firstChar
		if c >= 0 && c < len(f.widths) && f.widths[c] > 0 {
			return f.widths[c] * f.widthScale
		}
		return f.missing * f.widthScale
	}
	cid, known := 0, false
	switch {
	case f.encCMap != nil:
		cid, known = f.encCMap.cidFor(code)
	case f.family == familyIdentity:
		cid, known = bytesToInt(code), true
	}
	if known {
		if w, ok := f.cidWidths[cid]; ok {
			return w * f.widthScale
		}
		return f.dw * f.widthScale
	}
	if len(code) == 1 { // single-byte codes of CJK CMaps are half-width
		return 500 * f.widthScale
	}
	return f.dw * f.widthScale
}

// decode returns the text of one code; "" for a glyph with no text, and
// U+FFFD for a code whose text is unknown.
func (f *pdfFont) decode(code string) string {
	if s, ok := f.cache[code]; ok {
		return s
	}
	s := f.decodeUncached(code)
	f.cache[code] = s
	return s
}

func (f *pdfFont) decodeUncached(code string) string {
	if f.toUnicode != nil {
		if s, ok := f.toUnicode.uni[code]; ok {
			return s
		}
	}
	if f.kind != fontType0 {
		c := code[0]
		if f.kind == fontType3 {
			if name, ok := f.type3Names[c]; ok {
				if r, ok := glyphNameRune(name); ok {
					return string(r)
				}
				return "" // a drawn symbol without a known meaning
			}
		}
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return "" // control codes without a ToUnicode entry draw no text
		}
		if f.libEnc == nil {
			return string(rune(c))
		}
		s := f.libEnc.Decode(code)
		if !utf8.ValidString(s) || s == "" {
			return string(rune(c))
		}
		return s
	}
	var dec *encoding.Decoder
	switch f.family {
	case familyUCS2, familyUTF16:
		return decodeUTF16BE(code)
	case familyGBK:
		dec = simplifiedchinese.GBK.NewDecoder()
	case familyGB18030:
		dec = simplifiedchinese.GB18030.NewDecoder()
	case familyBig5:
		dec = traditionalchinese.Big5.NewDecoder()
	case familyShiftJIS:
		dec = japanese.ShiftJIS.NewDecoder()
	case familyEUCJP:
		dec = japanese.EUCJP.NewDecoder()
	case familyEUCKR:
		dec = korean.EUCKR.NewDecoder()
	default:
		return "\uFFFD"
	}
	if len(code) == 1 && code[0] < 0x80 {
		return code
	}
	s, err := dec.String(code)
	if err != nil || s == "" {
		return "\uFFFD"
	}
	return s
}

// decodeGBKPair decodes two bytes as one GBK character, reporting false when
// they are not a valid GBK pair standing for CJK text.
func decodeGBKPair(b1, b2 byte) (string, bool) {
	if b1 < 0x81 || b1 > 0xFE || b2 < 0x40 || b2 > 0xFE || b2 == 0x7F {
		return "", false
	}
	s, err := simplifiedchinese.GBK.NewDecoder().Bytes([]byte{b1, b2})
	if err != nil {
		return "", false
	}
	r, n := utf8.DecodeRune(s)
	if n != len(s) || r == utf8.RuneError || !isCJKText(r) {
		return "", false
	}
	return string(s), true
}

// isCJKText reports whether r is a CJK ideograph or a symbol that Chinese
// text commonly uses (CJK and fullwidth punctuation, ellipsis, dashes, quotes).
func isCJKText(r rune) bool {
	switch {
	case isCJKRune(r):
		return true
	case r >= 0x3000 && r <= 0x303F, r >= 0xFF00 && r <= 0xFFEF:
		return true
	case r >= 0x2010 && r <= 0x2027, r >= 0x2030 && r <= 0x203B:
		return true
	case r == 0x00B7, r >= 0x2460 && r <= 0x24FF, r >= 0x2160 && r <= 0x217F, r >= 0x25A0 && r <= 0x25FF:
		return true
	}
	return false
}

// isCJKRune reports whether r is a Han, kana or Hangul character: the
// scripts written without spaces between words (Hangul does use spaces,
// but its syllables in one word never need one inserted).
func isCJKRune(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF, r >= 0x3400 && r <= 0x4DBF, r >= 0x20000 && r <= 0x3FFFF:
		return true
	case r >= 0xF900 && r <= 0xFAFF:
		return true
	case r >= 0x3040 && r <= 0x30FF, r >= 0x31F0 && r <= 0x31FF:
		return true
	case r >= 0xAC00 && r <= 0xD7AF:
		return true
	case r >= 0x3000 && r <= 0x303F, r >= 0xFF01 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6:
		return true // CJK and fullwidth punctuation: no spaces around them either
	case r == 0x2014 || r == 0x2025 || r == 0x2026 || r == 0x00B7 || r == 0x30FB:
		return true // dashes, ellipses and middle dots as Chinese text uses them
	}
	return false
}

// glyphNameRune resolves the glyph names that carry their meaning in a
// regular form (uniXXXX, uXXXX[XX], single characters) or name a printable
// ASCII character (Adobe Glyph List names for U+0020..U+007E).
func glyphNameRune(name string) (rune, bool) {
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	if strings.HasPrefix(name, "uni") && len(name) >= 7 {
		if v, err := strconv.ParseUint(name[3:7], 16, 32); err == nil {
			return rune(v), true
		}
	}
	if strings.HasPrefix(name, "u") && len(name) >= 5 && len(name) <= 7 {
		if v, err := strconv.ParseUint(name[1:], 16, 32); err == nil && v <= 0x10FFFF {
			return rune(v), true
		}
	}
	if r, size := utf8.DecodeRuneInString(name); size == len(name) && r > ' ' && r != utf8.RuneError {
		return r, true
	}
	if r, ok := asciiGlyphNames[name]; ok {
		return r, true
	}
	return 0, false
}

var asciiGlyphNames = func() map[string]rune {
	names := []string{
		"space", "exclam", "quotedbl", "numbersign", "dollar", "percent", "ampersand", "quotesingle",
		"parenleft", "parenright", "asterisk", "plus", "comma", "hyphen", "period", "slash",
		"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
		"colon", "semicolon", "less", "equal", "greater", "question", "at",
	}
	m := map[string]rune{}
	for i, n := range names {
		m[n] = rune(' ' + i)
	}
	tail := []string{"bracketleft", "backslash", "bracketright", "asciicircum", "underscore", "grave"}
	for i, n := range tail {
		m[n] = rune('[' + i)
	}
	for i, n := range []string{"braceleft", "bar", "braceright", "asciitilde"} {
		m[n] = rune('{' + i)
	}
	m["quoteright"] = '\u2019'
	m["quoteleft"] = '\u2018'
	m["bullet"] = '\u2022'
	m["endash"] = '\u2013'
	m["emdash"] = '\u2014'
	return m
}()
