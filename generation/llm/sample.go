package llm

import (
	"math"
	"math/rand/v2"
	"sort"

	"zhiwen/generation/tensor"
)

// SamplerOptions configures next-token selection. The zero value is greedy
// decoding without penalties.
type SamplerOptions struct {
	// Temperature divides the logits; ≤ 0 selects the most likely token.
	Temperature float32
	// TopK keeps the K most likely tokens (0 = all).
	TopK int
	// TopP keeps the smallest set of tokens whose probability sums to at
	// least TopP (0 or ≥ 1 = all).
	TopP float32
	// MinP drops tokens less likely than MinP times the most likely one.
	MinP float32
	// RepeatPenalty divides positive logits (and multiplies negative ones)
	// of tokens seen in the last RepeatLastN tokens (1 or 0 = off).
	RepeatPenalty float32
	// RepeatLastN is the penalty window (0 = 64, negative = whole history).
	RepeatLastN int
	// Seed seeds the random generator, so equal seeds give equal samples.
	Seed uint64
}

// Sampler picks next tokens from logits. It is not safe for concurrent use.
type Sampler struct {
	opts       SamplerOptions
	rng        *rand.Rand
	candidates []candidate
}

type candidate struct {
	id    int
	logit float32
	p     float64
}

// NewSampler returns a sampler with its own seeded random generator.
func NewSampler(opts SamplerOptions) *Sampler {
	return &Sampler{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
}

// Sample returns the next token id. history is the token sequence so far
// (prompt and output), used by the repetition penalty. logits is modified in
// place by the penalty.
func (s *Sampler) Sample(logits []float32, history []int) int {
	o := s.opts
	if o.RepeatPenalty > 0 && o.RepeatPenalty != 1 {
		window := o.RepeatLastN
		if window == 0 {
			window = 64
		}
		start := 0
		if window > 0 && len(history) > window {
			start = len(history) - window
		}
		seen := make(map[int]struct{}, len(history)-start)
		for _, id := range history[start:] {
			if id < 0 || id >= len(logits) {
				continue
			}
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
			if logits[id] > 0 {
				logits[id] /= o.RepeatPenalty
			} else {
				logits[id] *= o.RepeatPenalty
			}
		}
	}
	if o.Temperature <= 0 {
		return argmax(logits)
	}

	var c []candidate
	if o.TopK > 0 && o.TopK < len(logits) {
		// Keep only the K best in a min-heap while scanning: sorting all
		// 151,936 logits of a Qwen vocabulary costs ~100 ms a token.
		c = s.topK(logits, o.TopK)
	} else {
		c = s.candidates[:0]
		for id, l := range logits {
			if !math.IsNaN(float64(l)) {
				c = append(c, candidate{id: id, logit: l})
			}
		}
		s.candidates = c
	}
	if len(c) == 0 {
		return 0
	}
	sort.Slice(c, func(i, j int) bool { return better(c[i], c[j]) })
	softmaxCandidates(c, 1)
	if o.TopP > 0 && o.TopP < 1 {
		var cum float64
		for i := range c {
			cum += c[i].p
			if cum >= float64(o.TopP) {
				c = c[:i+1]
				break
			}
		}
	}
	if o.MinP > 0 {
		limit := float64(o.MinP) * c[0].p
		keep := 1
		for keep < len(c) && c[keep].p >= limit {
			keep++
		}
		c = c[:keep]
	}
	softmaxCandidates(c, float64(o.Temperature))
	r := s.rng.Float64()
	var cum float64
	for _, cand := range c {
		cum += cand.p
		if r < cum {
			return cand.id
		}
	}
	return c[len(c)-1].id
}

// better orders candidates by descending logit, then ascending id.
func better(a, b candidate) bool {
	if a.logit != b.logit {
		return a.logit > b.logit
	}
	return a.id < b.id
}

// topK returns the k best candidates of logits (NaN skipped), unsorted,
// using a min-heap whose root is the worst kept candidate.
func (s *Sampler) topK(logits []float32, k int) []candidate {
	h := s.candidates[:0]
	down := func(i int) {
		for {
			l, r, w := 2*i+1, 2*i+2, i
			if l < len(h) && better(h[w], h[l]) {
				w = l
			}
			if r < len(h) && better(h[w], h[r]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for id, l := range logits {
		if math.IsNaN(float64(l)) {
			continue
		}
		cand := candidate{id: id, logit: l}
		if len(h) < k {
			h = append(h, cand)
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if !better(h[parent], h[i]) {
					break
				}
				h[parent], h[i] = h[i], h[parent]
				i = parent
			}
			continue
		}
		if better(cand, h[0]) {
			h[0] = cand
			down(0)
		}
	}
	s.candidates = h
	return h
}

// softmaxCandidates sets p to softmax(logit/temperature) over c, which must
// be sorted by descending logit.
func softmaxCandidates(c []candidate, temperature float64) {
	maxLogit := float64(c[0].logit) / temperature
	var sum float64
	for i := range c {
		c[i].p = math.Exp(float64(c[i].logit)/temperature - maxLogit)
		sum += c[i].p
	}
	for i := range c {
		c[i].p /= sum
	}
}

// argmax is the most likely token: the first index of the largest logit.
func argmax(x []float32) int { return tensor.Argmax(x) }
