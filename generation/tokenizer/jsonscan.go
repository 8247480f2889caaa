package tokenizer

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner reads the two large parts of a tokenizer.json (the vocab
// object and the merges array) much faster than encoding/json's reflection;
// on the 151k-token Qwen2 vocabulary this halves the load time. It accepts
// standard JSON only.
type jsonScanner struct {
	data []byte
	pos  int
	buf  []byte // scratch for unescaping
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// expect consumes byte c after optional whitespace.
func (s *jsonScanner) expect(c byte) error {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != c {
		return s.errorf("want %q", c)
	}
	s.pos++
	return nil
}

// peek returns the next non-space byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// str reads a JSON string.
func (s *jsonScanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.pos
	// Fast path: no escapes.
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if c == '"' {
			v := string(s.data[start:s.pos])
			s.pos++
			return v, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		s.pos++
	}
	s.buf = append(s.buf[:0], s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return string(s.buf), nil
		case c < 0x20:
			return "", s.errorf("control character in string")
		case c != '\\':
			s.buf = append(s.buf, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.data) {
			break
		}
		e := s.data[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			s.buf = append(s.buf, e)
		case 'b':
			s.buf = append(s.buf, '\b')
		case 'f':
			s.buf = append(s.buf, '\f')
		case 'n':
			s.buf = append(s.buf, '\n')
		case 'r':
			s.buf = append(s.buf, '\r')
		case 't':
			s.buf = append(s.buf, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
					save := s.pos
					s.pos += 2
					if lo, err := s.hex4(); err == nil {
						r2 = utf16.DecodeRune(r, lo)
					}
					if r2 == utf8.RuneError {
						s.pos = save
					}
				}
				r = r2
			}
			s.buf = utf8.AppendRune(s.buf, r)
		default:
			return "", s.errorf("bad escape \\%c", e)
		}
	}
	return "", s.errorf("unterminated string")
}

func (s *jsonScanner) hex4() (rune, error) {
	if s.pos+4 > len(s.data) {
		return 0, s.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 32)
	if err != nil {
		return 0, s.errorf("bad \\u escape")
	}
	s.pos += 4
	return rune(v), nil
}

// integer reads a non-negative JSON integer.
func (s *jsonScanner) integer() (int, error) {
	s.skipSpace()
	start := s.pos
	v := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		v = v*10 + int(s.data[s.pos]-'0')
		if v > 1<<31 {
			return 0, s.errorf("integer too large")
		}
		s.pos++
	}
	if s.pos == start {
		return 0, s.errorf("want a non-negative integer")
	}
	return v, nil
}

// vocabEntry is one "token": id member of a vocab object.
type vocabEntry struct {
	token string
	id    int
}

// scanVocab parses a {"token": id, ...} object, keeping member order.
func scanVocab(data []byte) ([]vocabEntry, error) {
	s := &jsonScanner{data: data}
	if err := s.expect('{'); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	vocab := make([]vocabEntry, 0, len(data)/16)
	if s.peek() == '}' {
		return vocab, nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return nil, fmt.Errorf("vocab key: %w", err)
		}
		if err := s.expect(':'); err != nil {
			return nil, fmt.Errorf("vocab %q: %w", k, err)
		}
		id, err := s.integer()
		if err != nil {
			return nil, fmt.Errorf("vocab %q: %w", k, err)
		}
		vocab = append(vocab, vocabEntry{k, id})
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			return vocab, nil
		default:
			return nil, fmt.Errorf("vocab: %w", s.errorf("want , or }"))
		}
	}
}

// scanMerges parses merges spelled as ["a b", ...] or [["a", "b"], ...].
func scanMerges(data []byte) ([][2]string, error) {
	s := &jsonScanner{data: data}
	if s.peek() == 'n' { // null
		return nil, nil
	}
	if err := s.expect('['); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	var out [][2]string
	if s.peek() == ']' {
		return out, nil
	}
	for {
		var pair [2]string
		switch s.peek() {
		case '"':
			m, err := s.str()
			if err != nil {
				return nil, fmt.Errorf("merge %d: %w", len(out), err)
			}
			a, b, ok := cutSpace(m)
			if !ok {
				return nil, fmt.Errorf("merge %d %q: no space between the two tokens", len(out), m)
			}
			pair = [2]string{a, b}
		case '[':
			s.pos++
			var err error
			if pair[0], err = s.str(); err == nil {
				if err = s.expect(','); err == nil {
					if pair[1], err = s.str(); err == nil {
						err = s.expect(']')
					}
				}
			}
			if err != nil {
				return nil, fmt.Errorf("merge %d: %w", len(out), err)
			}
		default:
			return nil, fmt.Errorf("merge %d: %w", len(out), errors.New("want a string or a pair"))
		}
		out = append(out, pair)
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			return out, nil
		default:
			return nil, fmt.Errorf("merges: %w", s.errorf("want , or ]"))
		}
	}
}

// cutSpace splits "a b" at its single space.
func cutSpace(m string) (string, string, bool) {
	for i := 0; i < len(m); i++ {
		if m[i] == ' ' {
			return m[:i], m[i+1:], true
		}
	}
	return "", "", false
}
