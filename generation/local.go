package generation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"zhiwen/generation/llm"
	"zhiwen/generation/tokenizer"
)

// LocalBackend answers with a GGUF model running inside this process (the
// pure-Go runtime of package llm).
//
// It runs one generation at a time: a model this size saturates the memory
// bandwidth on its own, so parallel requests would only slow each other.
// Callers queue (their context can cancel the wait). The KV cache is
// kept between requests, so a prompt that starts like the previous one (the
// same system prompt, or a chat continued) skips the shared prefix.
// Requests with adapters (see Chat and ServeAdapters) run on a second cache,
// allocated on first use, so they leave the base model's cached prompt alone.
type LocalBackend struct {
	model *llm.Loaded
	name  string
	// Sampler holds the defaults for what a request does not set (top-k,
	// min-p, repetition penalty). Temperature, TopP and Seed come from the
	// request.
	Sampler llm.SamplerOptions
	// owned means Close closes the model.
	owned bool
	// slot holds the KV cache while no generation runs: taking it from
	// the channel is taking the lock.
	slot      chan *llm.KVCache
	ctx       int
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
	// registry serves the adapters requests may select (see ServeAdapters).
	registry adapterRegistry
	// adapterCache serves requests with adapters, so that they do not
	// evict the base model's cached prompt from the cache in slot (which
	// always runs the bare base). It is allocated on the first such
	// request and guarded by slot: only the holder of the slot's cache
	// touches it.
	adapterCache *llm.KVCache
}

// NewLocalBackend wraps a loaded decoder model. name identifies it in Name
// (the file's base name, say). The backend does not close l.
func NewLocalBackend(l *llm.Loaded, name string) (*LocalBackend, error) {
	if l == nil || l.Model == nil {
		return nil, errors.New("local backend: not a text-generation model")
	}
	if l.Tokenizer == nil {
		return nil, fmt.Errorf("local backend %s: model has no tokenizer", name)
	}
	cache := l.Model.NewCache(0)
	b := &LocalBackend{
		model: l, name: name,
		Sampler: llm.SamplerOptions{TopK: 40, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64},
		slot:    make(chan *llm.KVCache, 1),
		closed:  make(chan struct{}),
		ctx:     cache.Capacity(),
	}
	b.slot <- cache
	return b, nil
}

// OpenLocalBackend loads the GGUF model at path. Close the backend to
// release the file.
func OpenLocalBackend(path string, opts llm.LoadOptions) (*LocalBackend, error) {
	l, err := llm.Load(path, opts)
	if err != nil {
		return nil, err
	}
	b, err := NewLocalBackend(l, filepath.Base(path))
	if err != nil {
		return nil, errors.Join(err, l.Close())
	}
	b.owned = true
	return b, nil
}

// Close waits for a running generation to end and releases the model file
// when the backend opened it. Later calls to Chat fail.
func (b *LocalBackend) Close() error {
	b.closeOnce.Do(func() {
		close(b.closed)
		<-b.slot // no generation may start after this
		if b.owned {
			b.closeErr = b.model.Close()
		}
	})
	return b.closeErr
}

// Model returns the loaded model.
func (b *LocalBackend) Model() *llm.Loaded { return b.model }

// Name implements Backend.
func (b *LocalBackend) Name() string { return "local:" + b.name }

// ContextTokens implements Backend: the size of the KV cache.
func (b *LocalBackend) ContextTokens() int { return b.ctx }

// CountTokens implements Backend with the model's tokenizer (special-token
// text is counted as ordinary text, as user content is encoded).
func (b *LocalBackend) CountTokens(text string) int {
	return len(b.model.Tokenizer.Encode(text, tokenizer.EncodeOptions{}))
}

// EncodeChat renders msgs with the model's chat template, ready for the
// assistant's reply, and encodes it. Special tokens are recognized in the
// template's own text but not inside message contents, so a document or a
// user cannot forge a turn by writing <|im_start|>.
func (b *LocalBackend) EncodeChat(msgs []Message) []int {
	return b.encodeChat(msgs, true)
}

func (b *LocalBackend) encodeChat(msgs []Message, addGenerationPrompt bool) []int {
	tok, tmpl := b.model.Tokenizer, b.model.Template
	real := make([]llm.Message, len(msgs))
	marked := make([]llm.Message, len(msgs))
	for i, m := range msgs {
		real[i] = llm.Message{Role: m.Role, Content: m.Content}
		marked[i] = llm.Message{Role: m.Role, Content: contentMarker(i)}
	}
	rendered := tmpl.Render(real, addGenerationPrompt)
	skeleton := tmpl.Render(marked, addGenerationPrompt)
	// Split the skeleton at the markers; if substituting the contents back
	// does not give the real rendering (a template that edits contents),
	// encode the whole text with special tokens on.
	var parts []string // template text, content 0, template text, content 1, ...
	rest := skeleton
	for i := range msgs {
		before, after, ok := strings.Cut(rest, contentMarker(i))
		if !ok {
			parts = nil
			break
		}
		parts = append(parts, before, msgs[i].Content)
		rest = after
	}
	if parts == nil || strings.Join(parts, "")+rest != rendered {
		return tok.Encode(rendered, tokenizer.EncodeOptions{AddSpecial: true, ParseSpecial: true})
	}
	parts = append(parts, rest)
	var ids []int
	for i, p := range parts {
		if p == "" {
			continue
		}
		isContent := i%2 == 1
		ids = append(ids, tok.Encode(p, tokenizer.EncodeOptions{AddSpecial: i == 0, ParseSpecial: !isContent})...)
	}
	return ids
}

func contentMarker(i int) string { return fmt.Sprintf("\uE000%d\uE001", i) }

// WarmUp runs the rendered msgs (without an assistant header) through the
// model into its KV cache, so that the next request starting with them (the
// grounded-answer system prompt, say) skips their prompt processing. It
// also pages the weights in. It waits for a running generation.
func (b *LocalBackend) WarmUp(ctx context.Context, msgs []Message) error {
	ids := b.encodeChat(msgs, false)
	if len(ids) == 0 {
		return nil
	}
	if len(ids) >= b.ctx {
		return fmt.Errorf("local backend %s: warm-up prompt of %d tokens does not fit the %d-token context", b.name, len(ids), b.ctx)
	}
	var cache *llm.KVCache
	select {
	case cache = <-b.slot:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closed:
		return fmt.Errorf("local backend %s: closed", b.name)
	}
	defer func() { b.slot <- cache }()
	start := sharedPrefix(cache.Tokens(), ids)
	if start == len(ids) {
		return nil
	}
	if _, err := b.model.Model.Forward(ctx, ids[start:], start, cache); err != nil {
		return fmt.Errorf("local backend %s: warm up: %w", b.name, err)
	}
	return nil
}

// WarmUpGrounded warms the cache with the system prompt Service.Ask sends
// for questions in Chinese (for other languages it differs), so the first
// answer after start-up only processes the passages and the question.
func (b *LocalBackend) WarmUpGrounded(ctx context.Context) error {
	return b.WarmUp(ctx, BuildPrompt("问题", nil, nil, b.ctx, b.CountTokens)[:1])
}

// Chat implements Backend. Sampling follows the request: temperature 0
// is greedy, a nil Seed with a positive temperature draws a random one.
// MaxTokens 0 lets the reply run to the end of the context.
//
// req.Model selects adapters over the one base model: "base+adapter",
// "+adapter", or several with scales, "+law+style@0.5" (see ServeAdapters).
// They apply to this request only; the base weights are shared and never
// reloaded. A model name without adapters runs the bare base model. An
// unknown, malformed or misfitting adapter fails the request with
// ErrBadModel, naming the file and tensor.
func (b *LocalBackend) Chat(ctx context.Context, req ChatRequest, emit func(delta string) error) (Usage, error) {
	ids := b.EncodeChat(req.Messages)
	usage := Usage{PromptTokens: len(ids), TotalTokens: len(ids)}
	if len(ids) >= b.ctx {
		return usage, fmt.Errorf("local backend %s: prompt of %d tokens does not fit the %d-token context: %w", b.name, len(ids), b.ctx, llm.ErrContextFull)
	}
	set, err := b.adapterSet(req.Model)
	if err != nil {
		return usage, fmt.Errorf("local backend %s: %w", b.name, err)
	}
	var cache *llm.KVCache
	select {
	case cache = <-b.slot:
	case <-ctx.Done():
		return usage, ctx.Err()
	case <-b.closed:
		return usage, fmt.Errorf("local backend %s: closed", b.name)
	}
	defer func(held *llm.KVCache) { b.slot <- held }(cache)
	if set != nil {
		// Requests with adapters share a second cache. Switching it to
		// another set drops its tokens (they were computed with other
		// weights); keeping the set keeps them for prefix reuse.
		if b.adapterCache == nil {
			b.adapterCache = b.model.Model.NewCache(b.ctx)
		}
		cache = b.adapterCache
		switchStart := time.Now()
		switched := cache.Adapters() != set
		if err := cache.UseAdapters(set); err != nil {
			return usage, fmt.Errorf("local backend %s: %w: %w", b.name, ErrBadModel, err)
		}
		if switched {
			slog.Debug("local adapters switched", "model", b.name, "adapters", setName(set), "took", time.Since(switchStart))
		}
	}

	opts := llm.GenerateOptions{
		MaxTokens: req.MaxTokens,
		Sampler:   b.Sampler,
		Stop:      append(append([]string(nil), req.Stop...), b.model.Template.Stops()...),
		Cache:     cache,
		Adapters:  set,
	}
	opts.Sampler.Temperature = float32(req.Temperature)
	if req.TopP > 0 {
		opts.Sampler.TopP = float32(req.TopP)
	}
	switch {
	case req.Seed != nil:
		opts.Sampler.Seed = uint64(*req.Seed)
	default:
		opts.Sampler.Seed = uint64(time.Now().UnixNano())
	}
	if room := b.ctx - len(ids); opts.MaxTokens <= 0 || opts.MaxTokens > room {
		opts.MaxTokens = room
	}

	reused := sharedPrefix(cache.Tokens(), ids)
	start := time.Now()
	var firstToken time.Duration
	defer func() {
		slog.Debug("local generation", "model", b.name, "adapters", setName(set), "prompt_tokens", usage.PromptTokens, "cached_prefix", reused,
			"completion_tokens", usage.CompletionTokens, "first_token", firstToken, "elapsed", time.Since(start))
	}()
	var text utf8Stream
	send := func(s string) error {
		if s == "" {
			return nil
		}
		return emit(s)
	}
	for tok, err := range llm.Generate(ctx, b.model.Model, b.model.Tokenizer, ids, opts) {
		if err != nil {
			// The cache keeps only tokens whose forward pass completed, so
			// it stays valid for the next request's prefix reuse.
			return usage, fmt.Errorf("local backend %s: %w", b.name, err)
		}
		if usage.CompletionTokens == 0 {
			firstToken = time.Since(start)
		}
		usage.CompletionTokens++
		usage.TotalTokens++
		if err := send(text.push(tok.Text)); err != nil {
			return usage, err
		}
	}
	if err := send(text.flush()); err != nil {
		return usage, err
	}
	return usage, nil
}

// setName names an adapter set for logs ("" for the bare base model).
func setName(s *llm.AdapterSet) string {
	if s == nil {
		return ""
	}
	return s.Name()
}

func sharedPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// utf8Stream turns a stream of byte strings into pieces that are each valid
// UTF-8: a character split across pieces is held until it completes, and
// bytes that can never form a character become U+FFFD.
type utf8Stream struct{ pending string }

func (u *utf8Stream) push(s string) string {
	u.pending += s
	cut := len(u.pending)
	// Find the start of the last character; hold it back if incomplete.
	for i := len(u.pending) - 1; i >= 0 && i >= len(u.pending)-utf8.UTFMax; i-- {
		if utf8.RuneStart(u.pending[i]) {
			if !utf8.FullRuneInString(u.pending[i:]) {
				cut = i
			}
			break
		}
	}
	out := u.pending[:cut]
	u.pending = u.pending[cut:]
	return strings.ToValidUTF8(out, "\uFFFD")
}

func (u *utf8Stream) flush() string {
	out := strings.ToValidUTF8(u.pending, "\uFFFD")
	u.pending = ""
	return out
}
