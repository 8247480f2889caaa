package ingest

import (
	"bytes"
	"io"
	"strconv"
	"unicode/utf16"
)

// pdfCMap is a parsed CMap stream: a ToUnicode map (bfchar/bfrange) or an
// embedded encoding CMap (cidchar/cidrange). Both carry codespace ranges,
// which say how a shown string splits into character codes.
type pdfCMap struct {
	space   []codeRange       // codespace ranges
	uni     map[string]string // code bytes -> text, from bfchar and expanded bfrange
	cid     map[string]int    // code bytes -> CID, from cidchar
	cidRng  []cidRange        // from cidrange
	useCMap string            // name given to usecmap, if any
}

type codeRange struct{ lo, hi []byte }

type cidRange struct {
	lo, hi []byte
	cid    int
}

// maxCMapEntries bounds what a hostile bfrange can expand to.
const maxCMapEntries = 1 << 20

// cmapToken is one lexical token of a CMap: a string (hex or literal), a
// number, a name, a keyword, or an array delimiter.
type cmapToken struct {
	kind byte // 's' string, 'n' number, '/' name, 'k' keyword, '[' and ']'
	text string
	num  int
}

// lexCMap splits CMap PostScript into tokens. It never fails: bytes it
// cannot make sense of are skipped.
func lexCMap(data []byte) []cmapToken {
	var toks []cmapToken
	i := 0
	for i < len(data) {
		c := data[i]
		switch {
		case c == '%':
			for i < len(data) && data[i] != '\n' && data[i] != '\r' {
				i++
			}
		case isPDFSpace(c):
			i++
		case c == '[' || c == ']':
			toks = append(toks, cmapToken{kind: c})
			i++
		case c == '<' && i+1 < len(data) && data[i+1] == '<', c == '>' && i+1 < len(data) && data[i+1] == '>':
			i += 2
		case c == '<':
			j := i + 1
			var hex []byte
			for j < len(data) && data[j] != '>' {
				if h, ok := unhexDigit(data[j]); ok {
					hex = append(hex, h)
				}
				j++
			}
			if len(hex)%2 == 1 {
				hex = append(hex, 0)
			}
			b := make([]byte, len(hex)/2)
			for k := range b {
				b[k] = hex[2*k]<<4 | hex[2*k+1]
			}
			toks = append(toks, cmapToken{kind: 's', text: string(b)})
			i = j + 1
		case c == '(':
			s, n := readLiteralString(data[i:])
			toks = append(toks, cmapToken{kind: 's', text: s})
			i += n
		case c == '/':
			j := i + 1
			for j < len(data) && !isPDFSpace(data[j]) && !isPDFDelim(data[j]) {
				j++
			}
			toks = append(toks, cmapToken{kind: '/', text: string(data[i+1 : j])})
			i = j
		case isPDFDelim(c):
			i++
		default:
			j := i
			for j < len(data) && !isPDFSpace(data[j]) && !isPDFDelim(data[j]) {
				j++
			}
			word := string(data[i:j])
			if n, err := strconv.Atoi(word); err == nil {
				toks = append(toks, cmapToken{kind: 'n', num: n})
			} else {
				toks = append(toks, cmapToken{kind: 'k', text: word})
			}
			i = j
		}
	}
	return toks
}

// readLiteralString reads a PDF literal string starting at data[0] == '('
// and returns its bytes and how many input bytes it used.
func readLiteralString(data []byte) (string, int) {
	var out []byte
	depth := 0
	i := 0
	for i < len(data) {
		c := data[i]
		i++
		switch c {
		case '(':
			if depth > 0 {
				out = append(out, c)
			}
			depth++
		case ')':
			depth--
			if depth == 0 {
				return string(out), i
			}
			out = append(out, c)
		case '\\':
			if i >= len(data) {
				return string(out), i
			}
			e := data[i]
			i++
			switch e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case '\r', '\n':
				if e == '\r' && i < len(data) && data[i] == '\n' {
					i++
				}
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && i < len(data) && data[i] >= '0' && data[i] <= '7'; k++ {
						v = v*8 + int(data[i]-'0')
						i++
					}
					out = append(out, byte(v))
				} else {
					out = append(out, e)
				}
			}
		default:
			out = append(out, c)
		}
	}
	return string(out), i
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0
}

func isPDFDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func unhexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseCMap reads a CMap program. Unknown operators are ignored; the
// result may be empty but is never nil.
func parseCMap(r io.Reader) (*pdfCMap, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil && len(data) == 0 {
		return nil, err
	}
	m := &pdfCMap{uni: map[string]string{}, cid: map[string]int{}}
	toks := lexCMap(data)
	var operands []cmapToken
	for _, t := range toks {
		if t.kind != 'k' {
			operands = append(operands, t)
			continue
		}
		switch t.text {
		case "endcodespacerange":
			for k := 0; k+1 < len(operands); k += 2 {
				lo, hi := operands[k], operands[k+1]
				if lo.kind == 's' && hi.kind == 's' && len(lo.text) == len(hi.text) && len(lo.text) >= 1 && len(lo.text) <= 4 {
					m.space = append(m.space, codeRange{[]byte(lo.text), []byte(hi.text)})
				}
			}
		case "endbfchar":
			for k := 0; k+1 < len(operands); k += 2 {
				src, dst := operands[k], operands[k+1]
				if src.kind != 's' || len(m.uni) >= maxCMapEntries {
					continue
				}
				switch dst.kind {
				case 's':
					m.uni[src.text] = decodeUTF16BE(dst.text)
				case '/':
					if r, ok := glyphNameRune(dst.text); ok {
						m.uni[src.text] = string(r)
					}
				}
			}
		case "endbfrange":
			m.addBFRanges(operands)
		case "endcidchar":
			for k := 0; k+1 < len(operands); k += 2 {
				if operands[k].kind == 's' && operands[k+1].kind == 'n' && len(m.cid) < maxCMapEntries {
					m.cid[operands[k].text] = operands[k+1].num
				}
			}
		case "endcidrange":
			for k := 0; k+2 < len(operands); k += 3 {
				lo, hi, c := operands[k], operands[k+1], operands[k+2]
				if lo.kind == 's' && hi.kind == 's' && c.kind == 'n' && len(lo.text) == len(hi.text) {
					m.cidRng = append(m.cidRng, cidRange{[]byte(lo.text), []byte(hi.text), c.num})
				}
			}
		case "usecmap":
			if len(operands) > 0 && operands[len(operands)-1].kind == '/' {
				m.useCMap = operands[len(operands)-1].text
			}
		}
		operands = operands[:0]
	}
	return m, nil
}

// addBFRanges expands "lo hi dst" triples, where dst is a string whose last
// byte is incremented through the range, or an array of strings.
func (m *pdfCMap) addBFRanges(ops []cmapToken) {
	for k := 0; k+2 < len(ops); {
		lo, hi := ops[k], ops[k+1]
		if lo.kind != 's' || hi.kind != 's' || len(lo.text) != len(hi.text) || len(lo.text) == 0 {
			k++
			continue
		}
		start, end := bytesToInt(lo.text), bytesToInt(hi.text)
		n := len(lo.text)
		if ops[k+2].kind == '[' {
			j := k + 3
			code := start
			for j < len(ops) && ops[j].kind != ']' {
				if ops[j].kind == 's' && code <= end && len(m.uni) < maxCMapEntries {
					m.uni[intToBytes(code, n)] = decodeUTF16BE(ops[j].text)
				}
				code++
				j++
			}
			k = j + 1
			continue
		}
		dst := ops[k+2]
		k += 3
		if dst.kind != 's' || end < start || end-start > 0xFFFF {
			continue
		}
		base := []byte(dst.text)
		for code := start; code <= end && len(m.uni) < maxCMapEntries; code++ {
			m.uni[intToBytes(code, n)] = decodeUTF16BE(string(addToLastBytes(base, code-start)))
		}
	}
}

// addToLastBytes adds delta to the big-endian number formed by the final two
// bytes of b (one byte when b is that short), as bfrange destinations count.
func addToLastBytes(b []byte, delta int) []byte {
	out := append([]byte(nil), b...)
	if len(out) == 0 {
		return out
	}
	if len(out) == 1 {
		out[0] += byte(delta)
		return out
	}
	v := int(out[len(out)-2])<<8 | int(out[len(out)-1])
	v += delta
	out[len(out)-2] = byte(v >> 8)
	out[len(out)-1] = byte(v)
	return out
}

func bytesToInt(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v<<8 | int(s[i])
	}
	return v
}

func intToBytes(v, n int) string {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return string(b)
}

// decodeUTF16BE decodes big-endian UTF-16; an odd trailing byte is dropped.
func decodeUTF16BE(s string) string {
	u := make([]uint16, 0, len(s)/2)
	for i := 0; i+1 < len(s); i += 2 {
		u = append(u, uint16(s[i])<<8|uint16(s[i+1]))
	}
	return string(utf16.Decode(u))
}

// codeLen reports how many bytes the code at the start of s takes under the
// codespace ranges, or 0 when no range matches.
func (m *pdfCMap) codeLen(s []byte) int {
	for n := 1; n <= 4 && n <= len(s); n++ {
		for _, r := range m.space {
			if len(r.lo) != n {
				continue
			}
			in := true
			for i := 0; i < n; i++ {
				if s[i] < r.lo[i] || s[i] > r.hi[i] {
					in = false
					break
				}
			}
			if in {
				return n
			}
		}
	}
	return 0
}

// cidFor maps a code to a CID through cidchar/cidrange entries.
func (m *pdfCMap) cidFor(code string) (int, bool) {
	if c, ok := m.cid[code]; ok {
		return c, true
	}
	b := []byte(code)
	for _, r := range m.cidRng {
		if len(r.lo) == len(b) && bytes.Compare(b, r.lo) >= 0 && bytes.Compare(b, r.hi) <= 0 {
			return r.cid + bytesToInt(code) - bytesToInt(string(r.lo)), true
		}
	}
	return 0, false
}
