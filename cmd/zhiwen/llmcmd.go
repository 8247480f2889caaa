package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"zhiwen/generation"
	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tokenizer"
)

func init() {
	register(&command{
		name: "run", usage: "--model FILE [--adapter NAME[@SCALE][+NAME...]] [--prompt TEXT | --chat] [-n N] [--temp T] [--seed S] [--json]",
		summary: "Generate text with a local GGUF model (one prompt, or an interactive chat).",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			model := fs.String("model", "", "GGUF model file")
			prompt := fs.String("prompt", "", "the user message to answer (default: the arguments, or stdin)")
			chat := fs.Bool("chat", false, "interactive chat: read one user message per line from stdin, keep the history (/reset clears it, /exit quits)")
			system := fs.String("system", "", "system message")
			n := fs.Int("n", 256, "maximum tokens to generate per reply (0 = until the context is full)")
			temp := fs.Float64("temp", 0.7, "sampling temperature (0 = greedy)")
			topP := fs.Float64("top-p", 0.9, "nucleus sampling threshold")
			seed := fs.Int64("seed", -1, "random seed (-1 = random)")
			ctxLen := fs.Int("ctx", 0, "context length in tokens (default: the model's, at most 4096)")
			asJSON := fs.Bool("json", false, "print one JSON object with the text, token counts and speeds instead of streaming")
			adapter := fs.String("adapter", "", "apply adapters registered in $ZHIWEN_HOME/adapters, e.g. law or law@0.5+style")
			return func(ctx context.Context, args []string) error {
				if *model == "" {
					return fmt.Errorf("%w: --model is required", errUsage)
				}
				b, err := generation.OpenLocalBackend(*model, llm.LoadOptions{ContextLen: *ctxLen})
				if err != nil {
					return err
				}
				defer b.Close()
				req := generation.ChatRequest{MaxTokens: *n, Temperature: *temp, TopP: *topP}
				if *adapter != "" {
					home, err := homeDir()
					if err != nil {
						return err
					}
					b.ServeAdapters(filepath.Join(home, "adapters"))
					req.Model = "+" + *adapter
					if err := b.CheckModel(req.Model); err != nil {
						return err
					}
				}
				if *seed >= 0 {
					req.Seed = seed
				}
				var history []generation.Message
				if *system != "" {
					history = append(history, generation.Message{Role: "system", Content: *system})
				}
				if *chat {
					if *asJSON {
						return fmt.Errorf("%w: --json does not combine with --chat", errUsage)
					}
					return chatREPL(ctx, b, req, history, os.Stdin, cmdOut, os.Stderr)
				}
				text := *prompt
				if text == "" && len(args) > 0 {
					text = strings.Join(args, " ")
				}
				if text == "" {
					in, err := io.ReadAll(os.Stdin)
					if err != nil {
						return fmt.Errorf("read prompt: %w", err)
					}
					text = strings.TrimSpace(string(in))
				}
				if text == "" {
					return fmt.Errorf("%w: no prompt (use --prompt, arguments, stdin, or --chat)", errUsage)
				}
				req.Messages = append(history, generation.Message{Role: "user", Content: text})
				out := io.Writer(cmdOut)
				var buf strings.Builder
				if *asJSON {
					out = &buf
				}
				st, err := timedChat(ctx, b, req, out)
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(cmdOut, runResult{Model: filepath.Base(*model), Prompt: text, Text: buf.String(), runStats: st})
				}
				fmt.Fprintln(cmdOut)
				st.print(os.Stderr)
				return nil
			}
		},
	})
	register(&command{
		name: "tokenize", usage: "--model FILE|tokenizer.json [--json] TEXT",
		summary: "Show the token ids and pieces a model's tokenizer makes of a text.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			model := fs.String("model", "", "GGUF model file, Hugging Face tokenizer.json (or its directory), or SentencePiece tokenizer.model")
			asJSON := fs.Bool("json", false, "print JSON")
			special := fs.Bool("special", true, "recognize special tokens such as <|im_start|> written in the text (as Hugging Face does)")
			addSpecial := fs.Bool("add-special", true, "add the model's framing tokens (BOS, [CLS]/[SEP]) where it wants them")
			return func(ctx context.Context, args []string) error {
				if *model == "" {
					return fmt.Errorf("%w: --model is required", errUsage)
				}
				text := strings.Join(args, " ")
				if len(args) == 0 {
					in, err := io.ReadAll(os.Stdin)
					if err != nil {
						return fmt.Errorf("read text: %w", err)
					}
					text = string(in)
				}
				tok, err := openTokenizer(*model)
				if err != nil {
					return err
				}
				ids := tok.Encode(text, tokenizer.EncodeOptions{AddSpecial: *addSpecial, ParseSpecial: *special})
				res := tokenizeResult{Count: len(ids), IDs: ids, Pieces: make([]string, len(ids)), Texts: make([]string, len(ids))}
				for i, id := range ids {
					res.Pieces[i] = tok.TokenString(id)
					res.Texts[i] = tok.Decode([]int{id})
				}
				if *asJSON {
					return printJSON(cmdOut, res)
				}
				for i, id := range ids {
					fmt.Fprintf(cmdOut, "%8d  %-20s %q\n", id, res.Pieces[i], res.Texts[i])
				}
				fmt.Fprintf(cmdOut, "%d tokens\n", len(ids))
				return nil
			}
		},
	})
}

type tokenizeResult struct {
	Count int   `json:"count"`
	IDs   []int `json:"ids"`
	// Pieces are the tokens as the vocabulary spells them ("Ġthe").
	Pieces []string `json:"pieces"`
	// Texts are the bytes each token stands for (a piece of a multi-byte
	// character shows as U+FFFD).
	Texts []string `json:"texts"`
}

// openTokenizer loads the tokenizer of a GGUF file, a tokenizer.json (or a
// directory holding one), or a SentencePiece tokenizer.model.
func openTokenizer(path string) (*tokenizer.Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open tokenizer: %w", err)
	}
	switch {
	case st.IsDir() || strings.HasSuffix(path, ".json"):
		return tokenizer.LoadHuggingFace(path)
	case strings.HasSuffix(path, ".model"):
		return tokenizer.LoadSentencePieceModel(path)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open tokenizer: %w", err)
	}
	defer f.Close()
	return llm.TokenizerFromGGUF(f)
}

// runStats times one reply.
type runStats struct {
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	FirstTokenMS     float64 `json:"first_token_ms"`
	TotalMS          float64 `json:"total_ms"`
	// PromptTPS is prompt tokens over the time to the first text.
	PromptTPS float64 `json:"prompt_tokens_per_s"`
	// DecodeTPS is completion tokens after the first over the time after it.
	DecodeTPS float64 `json:"tokens_per_s"`
}

type runResult struct {
	Model  string `json:"model"`
	Prompt string `json:"prompt"`
	Text   string `json:"text"`
	runStats
}

func (s runStats) print(w io.Writer) {
	fmt.Fprintf(w, "[prompt %d tokens, first text after %.0f ms (%.1f t/s); %d tokens generated, %.2f t/s]\n",
		s.PromptTokens, s.FirstTokenMS, s.PromptTPS, s.CompletionTokens, s.DecodeTPS)
}

// timedChat streams one reply to out and times it.
func timedChat(ctx context.Context, b *generation.LocalBackend, req generation.ChatRequest, out io.Writer) (runStats, error) {
	start := time.Now()
	var first time.Time
	u, err := b.Chat(ctx, req, func(d string) error {
		if first.IsZero() {
			first = time.Now()
		}
		_, err := io.WriteString(out, d)
		return err
	})
	end := time.Now()
	if first.IsZero() {
		first = end
	}
	st := runStats{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		FirstTokenMS: ms(first.Sub(start)), TotalMS: ms(end.Sub(start))}
	if st.FirstTokenMS > 0 {
		st.PromptTPS = float64(u.PromptTokens) / (st.FirstTokenMS / 1000)
	}
	if d := end.Sub(first).Seconds(); d > 0 && u.CompletionTokens > 1 {
		st.DecodeTPS = float64(u.CompletionTokens-1) / d
	}
	if err != nil {
		return st, fmt.Errorf("generate: %w", err)
	}
	return st, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// chatREPL reads user messages from in, one per line, and streams the
// replies to out, keeping the conversation (the backend's KV cache then
// holds the shared prefix, so each turn only processes what is new).
func chatREPL(ctx context.Context, b *generation.LocalBackend, req generation.ChatRequest, history []generation.Message, in io.Reader, out, errOut io.Writer) error {
	base := history
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	fmt.Fprintf(errOut, "chatting with %s (context %d tokens); /reset clears the history, /exit or end of input quits\n", b.Name(), b.ContextTokens())
	for {
		fmt.Fprint(errOut, "> ")
		if !sc.Scan() {
			break
		}
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "/exit", "/quit":
			return nil
		case "/reset":
			history = base
			fmt.Fprintln(errOut, "(history cleared)")
			continue
		}
		req.Messages = append(history, generation.Message{Role: "user", Content: line})
		var reply strings.Builder
		st, err := timedChat(ctx, b, req, io.MultiWriter(out, &reply))
		fmt.Fprintln(out)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, llm.ErrContextFull) {
				fmt.Fprintln(errOut, "(the context is full; /reset to start over)")
				continue
			}
			return err
		}
		st.print(errOut)
		history = append(req.Messages, generation.Message{Role: "assistant", Content: reply.String()})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	return nil
}
