package llm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"unicode/utf8"
)

// Detokenizer is the part of a tokenizer that generation needs.
type Detokenizer interface {
	Decode(ids []int) string
	IsEOG(id int) bool
}

// StopReason says why generation ended.
type StopReason string

// Stop reasons. They are set on the last Token only.
const (
	StopEOG     StopReason = "eog"     // the model produced an end-of-generation token
	StopString  StopReason = "stop"    // a stop string appeared
	StopLength  StopReason = "length"  // MaxTokens were generated
	StopContext StopReason = "context" // the KV cache is full
)

// Token is one generated token and the text it releases. Text may be empty
// while a multi-byte character or a possible stop string is incomplete; the
// held text comes out with a later token. Stop is set on the last token.
type Token struct {
	ID   int
	Text string
	Stop StopReason
}

// GenerateOptions configures Generate.
type GenerateOptions struct {
	// MaxTokens bounds the number of generated tokens (0 = until the
	// context is full).
	MaxTokens int
	Sampler   SamplerOptions
	// Stop strings end generation; the stop string itself and everything
	// after it are not returned.
	Stop []string
	// Cache, when set, is used and left holding the conversation, so a
	// later call whose prompt extends it skips the shared prefix. When nil
	// a new cache of the model's context length is used.
	Cache *KVCache
	// Adapters, when set, runs the sequence with these adapters (see
	// KVCache.UseAdapters; a Cache holding another set starts over).
	Adapters *AdapterSet
}

// Generate streams tokens continuing prompt. Iteration stops at an
// end-of-generation token, a stop string, MaxTokens, a full context, an
// error, or when ctx is cancelled (yielding ctx's error). Breaking out of
// the loop stops generation.
func Generate(ctx context.Context, m Model, dec Detokenizer, prompt []int, opts GenerateOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		if len(prompt) == 0 {
			yield(Token{}, errors.New("generate: empty prompt"))
			return
		}
		cache := opts.Cache
		if cache == nil {
			cache = m.NewCache(0)
		}
		if opts.Adapters != nil {
			if err := cache.UseAdapters(opts.Adapters); err != nil {
				yield(Token{}, fmt.Errorf("generate: %w", err))
				return
			}
		}
		// Reuse the cached prefix shared with the prompt; the last prompt
		// token is always run to get fresh logits.
		start := commonPrefix(cache.Tokens(), prompt)
		if start == len(prompt) {
			start--
		}
		if len(prompt) >= cache.Capacity() {
			yield(Token{}, fmt.Errorf("generate: prompt of %d tokens fills the %d-token context: %w", len(prompt), cache.Capacity(), ErrContextFull))
			return
		}
		logits, err := m.Forward(ctx, prompt[start:], start, cache)
		if err != nil {
			yield(Token{}, fmt.Errorf("generate: prompt: %w", err))
			return
		}
		sampler := NewSampler(opts.Sampler)
		filter := newStopFilter(opts.Stop)
		history := append([]int(nil), prompt...)
		var out []int
		decoded := "" // text of out already passed to the filter
		for {
			if err := ctx.Err(); err != nil {
				yield(Token{}, err)
				return
			}
			id := sampler.Sample(logits, history)
			if dec.IsEOG(id) {
				yield(Token{ID: id, Text: filter.flush(), Stop: StopEOG}, nil)
				return
			}
			out = append(out, id)
			history = append(history, id)
			var limit StopReason
			switch {
			case opts.MaxTokens > 0 && len(out) >= opts.MaxTokens:
				limit = StopLength
			case cache.Len() >= cache.Capacity():
				limit = StopContext
			}
			text := dec.Decode(out)
			var fresh string
			// Hold text back while the newest token leaves a character
			// incomplete, unless this is the last token.
			if limit != "" || !strings.HasSuffix(text, string(utf8.RuneError)) {
				p := commonPrefixString(decoded, text)
				fresh, decoded = text[p:], text
			}
			emit, stopped := filter.push(fresh)
			tok := Token{ID: id, Text: emit, Stop: limit}
			if stopped {
				tok.Stop = StopString
			}
			if tok.Stop != "" && tok.Stop != StopString {
				tok.Text += filter.flush()
			}
			if !yield(tok, nil) || tok.Stop != "" {
				return
			}
			if logits, err = m.Forward(ctx, []int{id}, cache.Len(), cache); err != nil {
				yield(Token{}, fmt.Errorf("generate: token %d: %w", len(out), err))
				return
			}
		}
	}
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func commonPrefixString(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
