package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// StreamDecoder decodes ids one at a time during generation and returns
// only text that ends on a UTF-8 character boundary: byte-level BPE and
// SentencePiece byte pieces may split one character (a CJK character is 3
// bytes) across several tokens. The concatenation of everything Add and
// Flush return equals Decode of all the ids. Not safe for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	state   decodeState
	pending []byte // bytes of an incomplete trailing character
	buf     strings.Builder
}

// NewStreamDecoder returns a decoder that starts at the beginning of a text.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Add decodes one id and returns the text completed by it, possibly "".
func (d *StreamDecoder) Add(id int) string {
	d.buf.Reset()
	d.buf.Write(d.pending)
	d.t.appendToken(&d.buf, id, &d.state)
	s := d.buf.String()
	cut := completePrefix(s)
	d.pending = append(d.pending[:0], s[cut:]...)
	return s[:cut]
}

// Flush returns any bytes still held back (an incomplete character at the
// end of the stream) and resets the decoder for a new text.
func (d *StreamDecoder) Flush() string {
	s := string(d.pending)
	d.pending = d.pending[:0]
	d.state = decodeState{}
	return s
}

// completePrefix returns the length of s without a trailing, possibly
// incomplete UTF-8 sequence (at most 3 bytes that could still become a
// valid character). Invalid bytes that can never complete are not held.
func completePrefix(s string) int {
	n := len(s)
	for k := 1; k <= 3 && k <= n; k++ {
		b := s[n-k]
		if b < 0x80 {
			return n // ASCII: complete
		}
		if utf8.RuneStart(b) {
			// A lead byte k bytes from the end: hold if it needs more.
			need := 0
			switch {
			case b&0xE0 == 0xC0:
				need = 2
			case b&0xF0 == 0xE0:
				need = 3
			case b&0xF8 == 0xF0:
				need = 4
			default:
				return n // invalid lead byte
			}
			if need > k && !utf8.FullRuneInString(s[n-k:]) {
				return n - k
			}
			return n
		}
	}
	return n
}
