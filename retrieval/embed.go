package retrieval

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"zhiwen/generation/tensor"
)

// HashEmbedder is the weight-free built-in Embedder: it hashes character
// n-grams (CJK unigrams and bigrams; Latin words and their character
// trigrams) into Dim buckets with a sign bit (feature hashing), weights each
// feature by 1+ln(tf) (damping n-grams made only of common function
// characters such as 的 and 是), and L2-normalizes the result. It needs no model and no
// corpus statistics, so vectors never change when documents are added.
type HashEmbedder struct {
	dim int
	w   hashWeights
}

// hashWeights weight each feature kind.
type hashWeights struct {
	unigram, bigram, word, trigram float64
	// stopDamp multiplies features made of common function characters.
	stopDamp float64
}

// defaultHashWeights were chosen on CMRC 2018 (see quality_test.go): CJK
// unigrams as strong as bigrams, features of only common function
// characters damped to 0.3.
var defaultHashWeights = hashWeights{unigram: 1, bigram: 1, word: 1, trigram: 0.5, stopDamp: 0.3}

// defaultHashDim is the HashEmbedder dimension. Hash collisions cost
// recall (CMRC dense-only MRR@10 0.84 at 512, 0.91 at 1024), but the scan
// over 100k chunks costs 3× more at 1024 (BenchmarkDenseScan100k: 5 vs 15
// CPU-ms per query), which breaks the 10 ms hybrid budget; hybrid quality is
// the same at both, since BM25 leads the fusion. Use NewHashEmbedder(1024)
// for dense-only search of smaller knowledge bases.
const defaultHashDim = 512

// NewHashEmbedder returns a HashEmbedder with dim buckets (dim < 1 means 512).
func NewHashEmbedder(dim int) *HashEmbedder {
	if dim < 1 {
		dim = defaultHashDim
	}
	return &HashEmbedder{dim: dim, w: defaultHashWeights}
}

// Name encodes the feature scheme version and dimension.
func (h *HashEmbedder) Name() string { return fmt.Sprintf("hash-ngram-v2-%d", h.dim) }

// Dim returns the vector length.
func (h *HashEmbedder) Dim() int { return h.dim }

// EmbedDocuments embeds each text.
func (h *HashEmbedder) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("hash embed: %w", err)
			}
		}
		out[i] = h.embed(t)
	}
	return out, nil
}

// EmbedQuery embeds a question; interrogative words are dropped first.
func (h *HashEmbedder) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hash embed query: %w", err)
	}
	return h.embed(queryText(text)), nil
}

// fnv64 is FNV-1a over a feature string with a one-byte kind prefix.
func fnv64(kind byte, s string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	h ^= uint64(kind)
	h *= prime
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	// final avalanche (splitmix64) so low bits and the sign bit are well mixed
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// featCount is one distinct feature of a text: how often it occurs, its
// kind, and whether it is made of stop characters only.
type featCount struct {
	n    int32
	kind byte
	stop bool
}

// featTable counts a text's features by their 64-bit hash, which is all
// the vector needs of them (two distinct features of one text sharing a
// hash is vanishingly rare and would only merge their counts). It is an
// open-addressing table with linear probing that remembers insertion
// order, so that the vector is summed in the same order every time.
type featTable struct {
	keys  []uint64 // 0 marks an empty slot (a zero hash is stored as 1)
	slot  []int32  // index into order of the feature in each slot
	order []uint64 // features in insertion order
	vals  []featCount
}

// reset empties t and sizes it for about n features.
func (t *featTable) reset(n int) {
	size := 1024
	for size < 2*n {
		size *= 2
	}
	if len(t.keys) < size {
		t.keys, t.slot = make([]uint64, size), make([]int32, size)
	} else {
		clear(t.keys)
	}
	t.order, t.vals = t.order[:0], t.vals[:0]
}

// add counts one occurrence of feature hash h; isNew reports the first.
func (t *featTable) add(h uint64) (c *featCount, isNew bool) {
	if h == 0 {
		h = 1
	}
	mask := uint64(len(t.keys) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case h:
			c = &t.vals[t.slot[i]]
			c.n++
			return c, false
		case 0:
			if 2*len(t.order) >= len(t.keys) { // keep the load under 1/2
				t.grow()
				return t.add(h)
			}
			t.keys[i], t.slot[i] = h, int32(len(t.order))
			t.order = append(t.order, h)
			t.vals = append(t.vals, featCount{n: 1})
			return &t.vals[len(t.vals)-1], true
		}
	}
}

// grow doubles the table, keeping the insertion order.
func (t *featTable) grow() {
	order, vals := t.order, t.vals
	t.keys, t.slot = make([]uint64, 2*len(t.keys)), make([]int32, 2*len(t.keys))
	mask := uint64(len(t.keys) - 1)
	for j, h := range order {
		i := h & mask
		for t.keys[i] != 0 {
			i = (i + 1) & mask
		}
		t.keys[i], t.slot[i] = h, int32(j)
	}
	t.order, t.vals = order, vals
}

// featTables recycles embed's feature tables.
var featTables = sync.Pool{New: func() any { return new(featTable) }}

func (h *HashEmbedder) embed(text string) []float32 {
	tf := featTables.Get().(*featTable)
	defer featTables.Put(tf)
	tf.reset(2 * len(text) / 3) // at most about two features per CJK character (3 bytes)
	add := func(kind byte, s string) {
		c, isNew := tf.add(fnv64(kind, s))
		if isNew {
			c.kind = kind
			c.stop = (kind == 'u' || kind == 'b') && allStopChars(s)
		}
	}
	var starts []int
	for _, t := range textTokens(text) {
		switch t.kind {
		case tokenCJK:
			if utf8.RuneCountInString(t.term) > 1 {
				add('b', t.term)
			}
		default:
			add('w', t.term)
			// Character trigrams of the word padded with ^ and $.
			padded := "^" + t.term + "$"
			starts = starts[:0]
			for i := range padded {
				starts = append(starts, i)
			}
			starts = append(starts, len(padded))
			for i := 0; i+3 < len(starts); i++ {
				add('t', padded[starts[i]:starts[i+3]])
			}
		}
	}
	var buf [utf8.UTFMax]byte
	for _, r := range text {
		if r = foldRune(r); isCJK(r) {
			n := utf8.EncodeRune(buf[:], r)
			add('u', string(buf[:n]))
		}
	}
	v := make([]float32, h.dim)
	for j, hv := range tf.order {
		c := tf.vals[j]
		w := 1 + math.Log(float64(c.n))
		switch c.kind {
		case 'u':
			w *= h.w.unigram
		case 'b':
			w *= h.w.bigram
		case 'w':
			w *= h.w.word
		case 't':
			w *= h.w.trigram
		}
		if w == 0 {
			continue
		}
		if h.w.stopDamp != 1 && c.stop {
			w *= h.w.stopDamp
		}
		idx := int(hv % uint64(h.dim))
		if hv>>63 == 1 {
			w = -w
		}
		v[idx] += float32(w)
	}
	tensor.NormalizeL2(v)
	return v
}

// stopChars are the most frequent Chinese function characters; features made
// only of them say little about a passage's topic.
const stopChars = "的了是在和与及其为之也一有中上个这那就都而被把以于从到对或但并等所着过要会能可将"

func allStopChars(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune(stopChars, r) {
			return false
		}
	}
	return true
}
