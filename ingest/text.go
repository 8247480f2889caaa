package ingest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

func init() {
	RegisterLoader(textLoader{}, ".txt", ".text", ".log")
}

// textLoader reads plain text in UTF-8, UTF-16 (with BOM) or GBK/GB18030;
// paragraphs are separated by blank lines.
type textLoader struct{}

func (textLoader) Format() string { return "text" }

// Sniff accepts anything that decodes as plausible text.
func (textLoader) Sniff(head []byte) bool {
	_, _, err := decodeText("", head, true)
	return err == nil
}

func (textLoader) Parse(ctx context.Context, name string, data []byte) (*Parsed, error) {
	s, enc, err := decodeText(name, data, false)
	if err != nil {
		return nil, err
	}
	p := &Parsed{Format: "text"}
	if enc != "utf-8" {
		p.Warnings = append(p.Warnings, "decoded as "+enc)
	}
	for _, para := range splitParagraphs(s) {
		p.Blocks = append(p.Blocks, Block{Kind: Paragraph, Text: para})
	}
	return p, ctx.Err()
}

// splitParagraphs cuts text at blank lines.
func splitParagraphs(s string) []string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n"))
			cur = cur[:0]
		}
	}
	for _, ln := range strings.Split(s, "\n") {
		if strings.TrimSpace(ln) == "" {
			flush()
			continue
		}
		cur = append(cur, ln)
	}
	flush()
	return out
}

// decodeText converts a text file's bytes to UTF-8 and names the encoding it
// found: UTF-8 (BOM optional), UTF-16 (BOM, or unmistakable NUL pattern), or
// GB18030 (a superset of GBK and GB2312) when the bytes are not valid UTF-8.
// Bytes that do not look like text in any of these give ErrUnsupportedType.
// A prefix may end inside a character; then the last bytes are ignored.
func decodeText(name string, data []byte, prefix bool) (string, string, error) {
	var (
		enc  encoding.Encoding
		what string
	)
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		data, what = data[3:], "utf-8"
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		enc, what = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), "utf-16le"
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		enc, what = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), "utf-16be"
	default:
		if e, w := utf16WithoutBOM(data); e != nil {
			enc, what = e, w
		}
	}
	var s string
	switch {
	case enc != nil:
		b, err := enc.NewDecoder().Bytes(data)
		if err != nil {
			return "", "", newParseError(name, ErrMalformed, "bad "+what+" text", err)
		}
		s = string(b)
	case what == "utf-8" || validUTF8Prefix(data, prefix):
		s, what = string(data), "utf-8"
	default:
		b, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if err != nil {
			return "", "", newParseError(name, ErrUnsupportedType, "content is neither UTF-8 nor GBK/GB18030 text", err)
		}
		s, what = string(b), "gb18030"
	}
	if prefix {
		// Forgive a character cut at the end of a sniffed prefix.
		s = strings.TrimRight(s, "\ufffd")
	}
	if reason := implausibleText(s, what == "gb18030"); reason != "" {
		return "", "", newParseError(name, ErrUnsupportedType, "content is not text: "+reason, nil)
	}
	return s, what, nil
}

func validUTF8Prefix(data []byte, prefix bool) bool {
	if utf8.Valid(data) {
		return true
	}
	if !prefix {
		return false
	}
	for cut := 1; cut <= 3 && cut < len(data); cut++ {
		if utf8.Valid(data[:len(data)-cut]) {
			return true
		}
	}
	return false
}

// utf16WithoutBOM recognizes BOM-less UTF-16 from its NUL bytes: ASCII-range
// characters put a zero in every other byte.
func utf16WithoutBOM(data []byte) (encoding.Encoding, string) {
	n := min(len(data), 4096) &^ 1
	if n < 8 {
		return nil, ""
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if data[i] == 0 {
			even++
		}
		if data[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 > pairs && even*8 <= odd:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le"
	case even*10 > pairs && odd*8 <= even:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be"
	}
	return nil, ""
}

// implausibleText explains why decoded text looks like binary data or
// mojibake, or returns "". Control characters and replacement characters
// are counted in every encoding; for GB18030 also characters that real
// Chinese text rarely uses (private use area, rare scripts).
func implausibleText(s string, fromGB bool) string {
	var total, control, replaced, rare int
	for _, r := range s {
		total++
		switch {
		case r == utf8.RuneError:
			replaced++
		case r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v' || r == 0x1a:
		case r < 0x20 || r == 0x7f:
			control++
		case fromGB && !commonInGB(r):
			rare++
		}
	}
	if total == 0 {
		return ""
	}
	switch {
	case control*100 > total:
		return fmt.Sprintf("%d%% control characters", control*100/total)
	case replaced*100 > total:
		return fmt.Sprintf("%d%% undecodable bytes", replaced*100/total)
	case rare*20 > total:
		return fmt.Sprintf("%d%% characters that Chinese text does not use (wrong encoding?)", rare*100/total)
	}
	return ""
}

// commonInGB reports characters that GBK-encoded documents normally contain.
func commonInGB(r rune) bool {
	switch {
	case r < 0x80:
		return true
	case r >= 0x4e00 && r <= 0x9fff, r >= 0x3400 && r <= 0x4dbf, r >= 0x20000 && r <= 0x3134f, r >= 0xf900 && r <= 0xfaff: // CJK ideographs
		return true
	case r >= 0x20a0 && r <= 0x20cf: // currency signs
		return true
	case r >= 0x3000 && r <= 0x303f, r >= 0xff00 && r <= 0xffef: // CJK punctuation, full-width forms
		return true
	case r >= 0x2000 && r <= 0x206f, r >= 0x2100 && r <= 0x22ff: // punctuation, letterlike, arrows, math
		return true
	case r >= 0x2460 && r <= 0x27bf: // enclosed numbers, box drawing, shapes, dingbats
		return true
	case r >= 0x3040 && r <= 0x30ff, r >= 0x3100 && r <= 0x312f, r >= 0x3200 && r <= 0x33ff: // kana, bopomofo, enclosed CJK
		return true
	case r >= 0xa0 && r <= 0x24f, r >= 0x370 && r <= 0x3ff, r >= 0x400 && r <= 0x4ff: // Latin-1/ext, Greek, Cyrillic
		return true
	case r >= 0xfe30 && r <= 0xfe4f: // CJK compatibility forms
		return true
	}
	return false
}
