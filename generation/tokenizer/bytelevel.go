package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// byteToRune is GPT-2's reversible map from bytes to printable runes:
// printable Latin-1 bytes map to themselves, the others to U+0100 onwards.
// runeToByte is its inverse (-1 where a rune is not in the map).
var byteToRune, runeToByte = func() (b2r [256]rune, r2b [324]int16) {
	for i := range r2b {
		r2b[i] = -1
	}
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			b2r[b] = rune(b)
		} else {
			b2r[b] = next
			next++
		}
		r2b[b2r[b]] = int16(b)
	}
	return b2r, r2b
}()

// byteLevelString maps raw bytes to their byte-level spelling.
func byteLevelString(raw string) string {
	var b strings.Builder
	b.Grow(len(raw) * 2)
	for i := 0; i < len(raw); i++ {
		b.WriteRune(byteToRune[raw[i]])
	}
	return b.String()
}

// byteLevelBytes maps a byte-level spelling back to raw bytes; ok is false
// if a rune is outside the map.
func byteLevelBytes(tok string) (string, bool) {
	var b strings.Builder
	b.Grow(len(tok))
	ok := true
	for _, r := range tok {
		if r >= 0 && int(r) < len(runeToByte) && runeToByte[r] >= 0 {
			b.WriteByte(byte(runeToByte[r]))
		} else {
			b.WriteRune(r)
			ok = false
		}
	}
	return b.String(), ok
}

// merge is one BPE merge rule: the rank (lower merges first) and the id of
// the merged token.
type merge struct {
	rank int32
	id   int32
}

func pairKey(left, right int) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// byteBPE is the byte-level BPE model of GPT-2, Qwen2, Llama-3 and GLM-4.
type byteBPE struct {
	pre            preTokenizer
	nfc            bool // normalize segments to NFC first (Qwen2)
	addPrefixSpace bool // prepend a space to text that does not start with one
	ignoreMerges   bool // a pre-token that is itself a token is kept whole (Llama-3)
	byteID         [256]int
	merges         *mergeTable
	raw            map[string]int // raw bytes of each normal token → id, for ignoreMerges
	cache          encodeCache
}

// newByteBPE builds the model from the vocabulary (byte-level spellings, by
// id; types mark which are normal tokens) and the merge rules in rank order.
func newByteBPE(tokens []string, types []int32, ids map[string]int, merges [][2]string, pre preTokenizer, ignoreMerges bool) (*byteBPE, error) {
	m := &byteBPE{pre: pre, ignoreMerges: ignoreMerges, merges: newMergeTable(len(merges))}
	for i := range m.byteID {
		m.byteID[i] = -1
	}
	if ignoreMerges {
		m.raw = make(map[string]int, len(tokens))
	}
	for id, tok := range tokens {
		if types[id] != TypeNormal && types[id] != TypeByte {
			continue
		}
		if r, size := utf8.DecodeRuneInString(tok); size == len(tok) && r < rune(len(runeToByte)) && runeToByte[r] >= 0 {
			if b := runeToByte[r]; m.byteID[b] < 0 {
				m.byteID[b] = id
			}
		}
		if ignoreMerges {
			if raw, ok := byteLevelBytes(tok); ok {
				if _, dup := m.raw[raw]; !dup {
					m.raw[raw] = id
				}
			}
		}
	}
	for b, id := range m.byteID {
		if id < 0 {
			return nil, fmt.Errorf("byte-level vocabulary has no token for byte 0x%02X", b)
		}
	}
	var buf []byte
	for rank, pr := range merges {
		left, ok1 := ids[pr[0]]
		right, ok2 := ids[pr[1]]
		merged, ok3 := lookupConcat(ids, &buf, pr[0], pr[1])
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("merge %d %q %q: token not in vocabulary", rank, pr[0], pr[1])
		}
		m.merges.add(left, right, merge{rank: int32(rank), id: int32(merged)})
	}
	return m, nil
}

// lookupConcat finds the id of a+b without allocating the joined string.
func lookupConcat(ids map[string]int, buf *[]byte, a, b string) (int, bool) {
	*buf = append(append((*buf)[:0], a...), b...)
	id, ok := ids[string(*buf)]
	return id, ok
}

// surelyNFC is a fast check for the common case of text made only of
// characters that are in NFC and never compose with a neighbour: below
// U+0300, CJK unified ideographs, CJK punctuation U+3000–U+3029 and
// full-width ASCII. Anything else needs the full check.
func surelyNFC(text string) bool {
	for _, r := range text {
		if r < 0x300 || (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3000 && r <= 0x3029) || (r >= 0xFF01 && r <= 0xFF5E) {
			continue
		}
		return false
	}
	return true
}

// encode appends the ids of a plain-text segment.
func (m *byteBPE) encode(out []int, text string) []int {
	if m.nfc && !surelyNFC(text) && !norm.NFC.IsNormalString(text) {
		text = norm.NFC.String(text)
	}
	if m.addPrefixSpace && !strings.HasPrefix(text, " ") {
		text = " " + text
	}
	m.pre.split(text, func(piece string) {
		out = m.encodeWord(out, piece)
	})
	return out
}

// encodeWord appends the ids of one pre-token.
func (m *byteBPE) encodeWord(out []int, word string) []int {
	if m.ignoreMerges {
		if id, ok := m.raw[word]; ok {
			return append(out, id)
		}
	}
	if ids, ok := m.cache.get(word); ok {
		return append(out, ids...)
	}
	ids := m.mergeWord(word)
	m.cache.put(strings.Clone(word), ids)
	return append(out, ids...)
}

// mergeWord runs BPE on the bytes of word.
func (m *byteBPE) mergeWord(word string) []int {
	syms := make([]int, len(word))
	for i := 0; i < len(word); i++ {
		syms[i] = m.byteID[word[i]] // every byte has a token (checked in newByteBPE)
	}
	return applyMerges(syms, m.merges)
}

// applyMerges repeatedly merges the adjacent pair with the lowest rank
// (leftmost on ties) and returns the remaining symbols.
func applyMerges(syms []int, merges *mergeTable) []int {
	switch {
	case len(syms) < 2:
		return syms
	case len(syms) <= linearMergeMax:
		return applyMergesLinear(syms, merges)
	}
	return applyMergesHeap(syms, merges)
}

const linearMergeMax = 32

// noMerge marks a pair no rule merges.
const noMerge = int32(1<<31 - 1)

// applyMergesLinear keeps the rank of every adjacent pair in an array and
// looks up only the two pairs a merge changes; finding the best pair is a
// scan over at most linearMergeMax ints.
func applyMergesLinear(syms []int, merges *mergeTable) []int {
	var rankBuf, idBuf [linearMergeMax]int32
	n := len(syms)
	ranks, ids := rankBuf[:n-1], idBuf[:n-1]
	look := func(i int) {
		if mg, ok := merges.get(syms[i], syms[i+1]); ok {
			ranks[i], ids[i] = mg.rank, mg.id
		} else {
			ranks[i] = noMerge
		}
	}
	for i := range ranks {
		look(i)
	}
	for len(ranks) > 0 {
		best, bestRank := -1, noMerge
		for i, r := range ranks {
			if r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		syms[best] = int(ids[best])
		syms = append(syms[:best+1], syms[best+2:]...)
		ranks = append(ranks[:best], ranks[best+1:]...)
		ids = append(ids[:best], ids[best+1:]...)
		if best > 0 {
			look(best - 1)
		}
		if best < len(ranks) {
			look(best)
		}
	}
	return syms
}

// mergeCandidate is a pair of adjacent symbols that a rule can merge.
type mergeCandidate struct {
	rank        int32
	left, right int32 // positions in the symbol list
	leftID      int
	rightID     int
	mergedID    int
}

// before orders merge candidates: lowest rank first, then leftmost.
func (a mergeCandidate) before(b mergeCandidate) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.left < b.left
}

// applyMergesHeap merges with a priority queue over a linked list of
// symbols: O(n log n) for long words.
func applyMergesHeap(syms []int, merges *mergeTable) []int {
	n := len(syms)
	prev := make([]int32, n)
	next := make([]int32, n)
	for i := range syms {
		prev[i], next[i] = int32(i-1), int32(i+1)
	}
	next[n-1] = -1
	var h minHeap[mergeCandidate]
	consider := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		if mg, ok := merges.get(syms[l], syms[r]); ok {
			h.push(mergeCandidate{rank: mg.rank, left: l, right: r, leftID: syms[l], rightID: syms[r], mergedID: int(mg.id)})
		}
	}
	for i := 0; i+1 < n; i++ {
		consider(int32(i), int32(i+1))
	}
	for len(h) > 0 {
		c := h.pop()
		// Skip candidates made stale by earlier merges.
		if syms[c.left] != c.leftID || syms[c.right] != c.rightID || next[c.left] != c.right {
			continue
		}
		syms[c.left] = c.mergedID
		syms[c.right] = -1
		nr := next[c.right]
		next[c.left] = nr
		if nr >= 0 {
			prev[nr] = c.left
		}
		consider(prev[c.left], c.left)
		consider(c.left, nr)
	}
	out := make([]int, 0, n)
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// appendDecoded writes the raw bytes of a normal token.
func (m *byteBPE) appendDecoded(b *strings.Builder, tok string) {
	for _, r := range tok {
		if r >= 0 && int(r) < len(runeToByte) && runeToByte[r] >= 0 {
			b.WriteByte(byte(runeToByte[r]))
		} else if r != utf8.RuneError {
			b.WriteRune(r)
		}
	}
}
