package llm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tokenizer"
)

// Loaded is a model file opened for use: the network, its tokenizer and its
// chat template. Close it to release the file mapping.
type Loaded struct {
	File *gguf.File
	// Model is set for decoders (text generation).
	Model Model
	// Encoder is set for embedding models.
	Encoder   Encoder
	Tokenizer *tokenizer.Tokenizer
	Template  Template
}

// Load opens the GGUF file at path and builds its network, tokenizer and
// chat template.
func Load(path string, opts LoadOptions) (*Loaded, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	l, err := newLoaded(f, opts)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	slog.Info("model loaded", "path", path, "arch", f.Architecture(), "template", l.Template.Name())
	return l, nil
}

func newLoaded(f *gguf.File, opts LoadOptions) (*Loaded, error) {
	n, err := LoadNetwork(f, opts)
	if err != nil {
		return nil, err
	}
	l := &Loaded{File: f}
	switch m := n.(type) {
	case Model:
		l.Model = m
	case Encoder:
		l.Encoder = m
	default:
		return nil, fmt.Errorf("%s: architecture %s built neither a decoder nor an encoder", f.Name, f.Architecture())
	}
	tok, err := TokenizerFromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer: %w", f.Name, err)
	}
	l.Tokenizer = tok
	chat, _ := f.String("tokenizer.chat_template")
	l.Template = TemplateFor(chat, f.Architecture())
	return l, nil
}

// Close releases the model's memory and file. The model must not be used
// afterwards.
func (l *Loaded) Close() error {
	if l == nil || l.File == nil {
		return nil
	}
	if l.Model != nil {
		ReleaseWeights(l.Model)
	}
	return l.File.Close()
}

// TokenizerFromGGUF builds the tokenizer described by a GGUF file's
// tokenizer.ggml.* metadata.
func TokenizerFromGGUF(f *gguf.File) (*tokenizer.Tokenizer, error) {
	spec := tokenizer.Spec{BOS: -1, EOS: -1, UNK: -1, PAD: -1, SEP: -1, CLS: -1}
	var ok bool
	if spec.Model, ok = f.String("tokenizer.ggml.model"); !ok {
		return nil, fmt.Errorf("%s: no tokenizer.ggml.model", f.Name)
	}
	spec.Pre, _ = f.String("tokenizer.ggml.pre")
	if spec.Tokens, ok = f.Strings("tokenizer.ggml.tokens"); !ok {
		return nil, fmt.Errorf("%s: no tokenizer.ggml.tokens", f.Name)
	}
	spec.Scores, _ = f.Floats("tokenizer.ggml.scores")
	if types, ok := f.Ints("tokenizer.ggml.token_type"); ok {
		spec.Types = make([]int32, len(types))
		for i, v := range types {
			spec.Types[i] = int32(v)
		}
	}
	spec.Merges, _ = f.Strings("tokenizer.ggml.merges")
	ids := []struct {
		key string
		dst *int
	}{
		{"tokenizer.ggml.bos_token_id", &spec.BOS},
		{"tokenizer.ggml.eos_token_id", &spec.EOS},
		{"tokenizer.ggml.unknown_token_id", &spec.UNK},
		{"tokenizer.ggml.padding_token_id", &spec.PAD},
		{"tokenizer.ggml.seperator_token_id", &spec.SEP}, // llama.cpp's spelling
		{"tokenizer.ggml.cls_token_id", &spec.CLS},
	}
	for _, id := range ids {
		if v, ok := f.Int(id.key); ok {
			if v < 0 || v >= int64(len(spec.Tokens)) {
				return nil, fmt.Errorf("%s: %s = %d outside the %d-token vocabulary", f.Name, id.key, v, len(spec.Tokens))
			}
			*id.dst = int(v)
		}
	}
	defAddBOS := spec.Model == "llama" || spec.Model == "bert"
	spec.AddBOS = boolOr(f, "tokenizer.ggml.add_bos_token", defAddBOS)
	spec.AddEOS = boolOr(f, "tokenizer.ggml.add_eos_token", spec.Model == "bert")
	spec.AddSpacePrefix = boolOr(f, "tokenizer.ggml.add_space_prefix", spec.Model == "llama")
	tok, err := tokenizer.FromSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return tok, nil
}

func boolOr(f *gguf.File, key string, def bool) bool {
	if v, ok := f.Bool(key); ok {
		return v
	}
	return def
}

// Generate encodes prompt (special tokens such as <|im_start|> are
// recognized, so pass template output, not raw untrusted text) and streams
// the continuation. See the package-level Generate.
func (l *Loaded) Generate(ctx context.Context, prompt string, opts GenerateOptions) iter.Seq2[Token, error] {
	if l.Model == nil {
		return func(yield func(Token, error) bool) {
			yield(Token{}, fmt.Errorf("%s: not a text-generation model", l.File.Name))
		}
	}
	ids := l.Tokenizer.Encode(prompt, tokenizer.EncodeOptions{AddSpecial: true, ParseSpecial: true})
	return Generate(ctx, l.Model, l.Tokenizer, ids, opts)
}

// Chat renders msgs with the model's chat template and streams the
// assistant's reply, stopping also at the template's end-of-turn markers.
func (l *Loaded) Chat(ctx context.Context, msgs []Message, opts GenerateOptions) iter.Seq2[Token, error] {
	opts.Stop = append(append([]string(nil), opts.Stop...), l.Template.Stops()...)
	return l.Generate(ctx, l.Template.Render(msgs, true), opts)
}
