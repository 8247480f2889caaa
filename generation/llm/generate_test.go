package llm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// pieceVocab detokenizes id i as the piece "<i>" (a fixed test vocabulary).
type pieceVocab struct{ eog map[int]bool }

func (p pieceVocab) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "<%d>", id)
	}
	return b.String()
}

func (p pieceVocab) IsEOG(id int) bool { return p.eog[id] }

func tinyDecoder(t *testing.T, arch string) Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	s := tinyShape(arch)
	s.ContextLen = 24
	if err := SynthesizeModel(context.Background(), path, s, MixF32, 99); err != nil {
		t.Fatal(err)
	}
	n, err := LoadNetwork(openGGUF(t, path), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.(Model)
}

// greedyByRecompute is the oracle: argmax of a full forward pass over the
// whole sequence at every step.
func greedyByRecompute(t *testing.T, m Model, prompt []int, steps int) []int {
	seq := append([]int(nil), prompt...)
	var out []int
	for range steps {
		logits, err := m.Forward(context.Background(), seq, 0, m.NewCache(0))
		if err != nil {
			t.Fatal(err)
		}
		id := argmax(logits)
		out = append(out, id)
		seq = append(seq, id)
	}
	return out
}

func collect(t *testing.T, seq func(func(Token, error) bool)) ([]Token, error) {
	var toks []Token
	var err error
	seq(func(tok Token, e error) bool {
		if e != nil {
			err = e
			return false
		}
		toks = append(toks, tok)
		return true
	})
	return toks, err
}

func TestGenerate(t *testing.T) {
	m := tinyDecoder(t, "qwen2")
	prompt := []int{5, 9, 13}
	want := greedyByRecompute(t, m, prompt, 6)
	ctx := context.Background()
	text := func(toks []Token) string {
		var b strings.Builder
		for _, tk := range toks {
			b.WriteString(tk.Text)
		}
		return b.String()
	}
	ids := func(toks []Token) []int {
		var out []int
		for _, tk := range toks {
			out = append(out, tk.ID)
		}
		return out
	}

	t.Run("greedy matches recompute, stops at length", func(t *testing.T) {
		toks, err := collect(t, Generate(ctx, m, pieceVocab{}, prompt, GenerateOptions{MaxTokens: 6}))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(toks)) != fmt.Sprint(want) {
			t.Fatalf("ids %v, want %v", ids(toks), want)
		}
		if toks[len(toks)-1].Stop != StopLength {
			t.Fatalf("stop %q, want length", toks[len(toks)-1].Stop)
		}
		if got := text(toks); got != (pieceVocab{}).Decode(want) {
			t.Fatalf("text %q", got)
		}
	})
	t.Run("stop string", func(t *testing.T) {
		stop := fmt.Sprintf("<%d>", want[2])
		toks, err := collect(t, Generate(ctx, m, pieceVocab{}, prompt, GenerateOptions{MaxTokens: 6, Stop: []string{stop}}))
		if err != nil {
			t.Fatal(err)
		}
		wantText := (pieceVocab{}).Decode(want[:2])
		if i := strings.Index(wantText, stop); i >= 0 { // the stop may occur earlier
			wantText = wantText[:i]
		}
		if got := text(toks); got != wantText || toks[len(toks)-1].Stop != StopString {
			t.Fatalf("text %q stop %q, want %q and stop", got, toks[len(toks)-1].Stop, wantText)
		}
	})
	t.Run("eog", func(t *testing.T) {
		eog := want[len(want)-1]
		k := 0
		for want[k] != eog {
			k++
		}
		toks, err := collect(t, Generate(ctx, m, pieceVocab{eog: map[int]bool{eog: true}}, prompt, GenerateOptions{MaxTokens: 6}))
		if err != nil {
			t.Fatal(err)
		}
		if len(toks) != k+1 || toks[k].Stop != StopEOG || fmt.Sprint(ids(toks[:k])) != fmt.Sprint(want[:k]) {
			t.Fatalf("tokens %+v, want %v then EOG", toks, want[:k])
		}
	})
	t.Run("context full", func(t *testing.T) {
		cache := m.NewCache(6)
		toks, err := collect(t, Generate(ctx, m, pieceVocab{}, prompt, GenerateOptions{Cache: cache}))
		if err != nil {
			t.Fatal(err)
		}
		// 3 prompt + 3 generated tokens fill the cache; the 4th is
		// sampled from the last logits and ends generation.
		if len(toks) != 4 || toks[3].Stop != StopContext {
			t.Fatalf("tokens %+v, want 4 ending with a context stop", toks)
		}
	})
	t.Run("cache reuse", func(t *testing.T) {
		cache := m.NewCache(0)
		if _, err := collect(t, Generate(ctx, m, pieceVocab{}, prompt, GenerateOptions{MaxTokens: 2, Cache: cache})); err != nil {
			t.Fatal(err)
		}
		// The cache now holds prompt + first output; extend that prompt.
		next := append(append([]int(nil), prompt...), want[0], want[1])
		toks, err := collect(t, Generate(ctx, m, pieceVocab{}, next, GenerateOptions{MaxTokens: 4, Cache: cache}))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(toks)) != fmt.Sprint(want[2:]) {
			t.Fatalf("ids %v, want %v", ids(toks), want[2:])
		}
	})
	t.Run("cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		n := 0
		var gotErr error
		for _, err := range Generate(cctx, m, pieceVocab{}, prompt, GenerateOptions{}) {
			if err != nil {
				gotErr = err
				break
			}
			n++
			cancel()
		}
		if !errors.Is(gotErr, context.Canceled) || n != 1 {
			t.Fatalf("after cancel: %d tokens, err %v", n, gotErr)
		}
	})
}

// TestRopePairing checks each architecture's RoPE layout: which element a
// basis vector rotates into, and the rotated dimension count.
func TestRopePairing(t *testing.T) {
	cases := []struct {
		arch    string
		style   RopeStyle
		dims    int // for head dim 64
		partner func(j, dims int) int
	}{
		{"qwen2", RopeNeox, 64, func(j, d int) int { return j + d/2 }},
		{"llama", RopeNormal, 64, func(j, d int) int { return j + 1 }},
		{"chatglm", RopeNormal, 32, func(j, d int) int { return j + 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.arch, func(t *testing.T) {
			d := tinyDecoder(t, tc.arch).(*Decoder)
			if d.rope.style != tc.style || d.rope.dims != tc.dims {
				t.Fatalf("rope %v/%d, want %v/%d", d.rope.style, d.rope.dims, tc.style, tc.dims)
			}
			half := d.rope.dims / 2
			cos, sin := make([]float32, half), make([]float32, half)
			d.rope.table(1, cos, sin)
			for _, j := range []int{0, 2} {
				vec := make([]float32, d.cfg.HeadDim)
				vec[j] = 1
				d.rope.apply(vec, 1, cos, sin)
				p := tc.partner(j, d.rope.dims)
				for k, v := range vec {
					if k != j && k != p && v != 0 {
						t.Fatalf("e_%d leaked into element %d", j, k)
					}
				}
				if vec[p] == 0 {
					t.Fatalf("e_%d did not rotate into element %d: %v", j, p, vec[:8])
				}
			}
			// Elements past the rotated dims are left alone.
			if d.rope.dims < d.cfg.HeadDim {
				vec := make([]float32, d.cfg.HeadDim)
				vec[d.rope.dims] = 1
				d.rope.apply(vec, 1, cos, sin)
				if vec[d.rope.dims] != 1 {
					t.Fatal("element beyond rope dims changed")
				}
			}
		})
	}
}

func TestKVCacheErrors(t *testing.T) {
	m := tinyDecoder(t, "llama")
	ctx := context.Background()
	cache := m.NewCache(4)
	if _, err := m.Forward(ctx, []int{1, 2, 3, 4, 5}, 0, cache); !errors.Is(err, ErrContextFull) {
		t.Errorf("overflow: err %v, want ErrContextFull", err)
	}
	if _, err := m.Forward(ctx, []int{1}, 2, cache); err == nil {
		t.Error("gap in positions accepted")
	}
	if _, err := m.Forward(ctx, []int{1000}, 0, cache); err == nil {
		t.Error("out-of-vocabulary token accepted")
	}
	if _, err := m.Forward(ctx, []int{1, 2}, 0, cache); err != nil || cache.Len() != 2 {
		t.Fatalf("forward: %v, len %d", err, cache.Len())
	}
	if err := cache.SetPrefix(0, nil, nil); err == nil {
		t.Error("prefix accepted after tokens")
	}
	if _, err := m.Forward(ctx, []int{1}, 0, NewKVCache(1, 1, 4)); err == nil {
		t.Error("mis-shaped cache accepted")
	}
}

// byteDetok decodes the k-th generated token as the k-th byte of a repeated
// "你" (3 UTF-8 bytes), replacing incomplete characters with U+FFFD as
// Hugging Face decoders do.
type byteDetok struct{}

func (byteDetok) Decode(ids []int) string {
	b := make([]byte, len(ids))
	for i := range ids {
		b[i] = "你"[i%3]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (byteDetok) IsEOG(int) bool { return false }

func TestGenerateHoldsIncompleteUTF8(t *testing.T) {
	m := tinyDecoder(t, "llama")
	var texts []string
	for tok, err := range Generate(context.Background(), m, byteDetok{}, []int{1, 2}, GenerateOptions{MaxTokens: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, tok.Text)
	}
	// Characters complete at tokens 3 and 6; the 7th (last) releases
	// its incomplete byte as U+FFFD.
	want := []string{"", "", "你", "", "", "你", "\uFFFD"}
	if fmt.Sprintf("%q", texts) != fmt.Sprintf("%q", want) {
		t.Fatalf("texts %q, want %q", texts, want)
	}
}
