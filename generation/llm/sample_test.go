package llm

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestSamplerGreedyAndTopK1(t *testing.T) {
	logits := []float32{0.1, 2.5, -1, 2.4, 0}
	cases := []struct {
		name string
		opts SamplerOptions
	}{
		{"greedy", SamplerOptions{}},
		{"topk1 hot", SamplerOptions{Temperature: 5, TopK: 1, Seed: 3}},
		{"tiny minp hot", SamplerOptions{Temperature: 1, MinP: 0.999, Seed: 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSampler(tc.opts)
			for range 50 {
				if got := s.Sample(append([]float32(nil), logits...), nil); got != 1 {
					t.Fatalf("sampled %d, want 1", got)
				}
			}
		})
	}
}

// sampleFreq draws n samples and returns the frequency of each id.
func sampleFreq(opts SamplerOptions, logits []float32, n int) []float64 {
	s := NewSampler(opts)
	freq := make([]float64, len(logits))
	for range n {
		freq[s.Sample(append([]float32(nil), logits...), nil)]++
	}
	for i := range freq {
		freq[i] /= float64(n)
	}
	return freq
}

func TestSamplerDistributions(t *testing.T) {
	p := []float64{0.5, 0.3, 0.15, 0.05}
	logits := make([]float32, len(p))
	for i, v := range p {
		logits[i] = float32(math.Log(v))
	}
	const n = 20000
	cases := []struct {
		name string
		opts SamplerOptions
		want []float64
	}{
		{"temperature 1", SamplerOptions{Temperature: 1, Seed: 1}, p},
		{"temperature 0.5", SamplerOptions{Temperature: 0.5, Seed: 2}, normalize([]float64{0.25, 0.09, 0.0225, 0.0025})},
		{"top-k 2", SamplerOptions{Temperature: 1, TopK: 2, Seed: 3}, []float64{0.625, 0.375, 0, 0}},
		{"top-p 0.7", SamplerOptions{Temperature: 1, TopP: 0.7, Seed: 4}, []float64{0.625, 0.375, 0, 0}},
		{"top-p 0.9", SamplerOptions{Temperature: 1, TopP: 0.9, Seed: 5}, normalize([]float64{0.5, 0.3, 0.15, 0})},
		{"min-p 0.25", SamplerOptions{Temperature: 1, MinP: 0.25, Seed: 6}, normalize([]float64{0.5, 0.3, 0.15, 0})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := sampleFreq(tc.opts, logits, n)
			for i := range got {
				// 4.5 standard errors of a binomial proportion.
				tol := 4.5*math.Sqrt(tc.want[i]*(1-tc.want[i])/n) + 1e-9
				if math.Abs(got[i]-tc.want[i]) > tol {
					t.Errorf("id %d: frequency %.4f, want %.4f ± %.4f (all %v)", i, got[i], tc.want[i], tol, got)
				}
			}
		})
	}
}

func normalize(x []float64) []float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v / s
	}
	return out
}

func TestSamplerSeedReproducible(t *testing.T) {
	logits := []float32{1, 1.2, 0.8, 1.1, 0.9, 1.05}
	draw := func(seed uint64) []int {
		s := NewSampler(SamplerOptions{Temperature: 1, Seed: seed})
		var out []int
		for range 40 {
			out = append(out, s.Sample(append([]float32(nil), logits...), nil))
		}
		return out
	}
	a, b, c := draw(11), draw(11), draw(12)
	same := func(x, y []int) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Fatalf("same seed gave different samples:\n%v\n%v", a, b)
	}
	if same(a, c) {
		t.Fatalf("different seeds gave identical samples %v", a)
	}
}

func TestSamplerRepeatPenalty(t *testing.T) {
	cases := []struct {
		name    string
		logits  []float32
		history []int
		opts    SamplerOptions
		want    int
	}{
		{"penalized positive", []float32{2, 1.5, 0}, []int{0}, SamplerOptions{RepeatPenalty: 1.5}, 1},
		{"penalized negative", []float32{-1, -1.2, -3}, []int{0}, SamplerOptions{RepeatPenalty: 1.5}, 1},
		{"outside window", []float32{2, 1.5, 0}, []int{0, 2, 2}, SamplerOptions{RepeatPenalty: 1.5, RepeatLastN: 2}, 0},
		{"off", []float32{2, 1.5, 0}, []int{0}, SamplerOptions{RepeatPenalty: 1}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewSampler(tc.opts).Sample(tc.logits, tc.history); got != tc.want {
				t.Fatalf("sampled %d, want %d", got, tc.want)
			}
		})
	}
}

// TestTopKSelectionMatchesFullSort checks that the heap selection used for
// top-k keeps exactly the k candidates a full sort would keep.
func TestTopKSelectionMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	logits := make([]float32, 5000)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	logits[17] = logits[42]          // a tie, broken by id
	logits[99] = float32(math.NaN()) // skipped
	all := make([]candidate, 0, len(logits))
	for id, l := range logits {
		if !math.IsNaN(float64(l)) {
			all = append(all, candidate{id: id, logit: l})
		}
	}
	sort.Slice(all, func(i, j int) bool { return better(all[i], all[j]) })
	for _, k := range []int{1, 2, 40, 999, len(all)} {
		got := NewSampler(SamplerOptions{}).topK(logits, k)
		sort.Slice(got, func(i, j int) bool { return better(got[i], got[j]) })
		if len(got) != k {
			t.Fatalf("k=%d: kept %d", k, len(got))
		}
		for i := range got {
			if got[i].id != all[i].id {
				t.Fatalf("k=%d: rank %d is %d, full sort says %d", k, i, got[i].id, all[i].id)
			}
		}
	}
}
