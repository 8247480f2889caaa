package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"zhiwen/internal/testref"

	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tensor"
)

// repoRoot walks up from the package directory to the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	return testref.RepoRoot(t)
}

// qwenTokenizer is the shared test data's Qwen2.5 tokenizer.json; the test
// fails when it is missing.
func qwenTokenizer(t testing.TB) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "..", "shared", "testdata", "tokenizer", "qwen2.5", "tokenizer.json")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test data missing: %v", err)
	}
	return p
}

// cliMu serializes tests that swap os.Stdin and os.Stderr.
var cliMu sync.Mutex

// runCLI runs the CLI with args and stdin, returning its exit code, stdout
// and stderr. Results go to run's stdout; progress and timing lines go to
// os.Stderr, which is redirected to a file and returned with run's stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	dir := t.TempDir()
	in, err := os.Create(filepath.Join(dir, "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.WriteString(stdin); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	errFile, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	oldIn, oldErr := os.Stdin, os.Stderr
	os.Stdin, os.Stderr = in, errFile
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	os.Stdin, os.Stderr = oldIn, oldErr
	errText, err := os.ReadFile(errFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String() + string(errText)
}

var (
	tinyOnce sync.Once
	tinyPath string
	tinyErr  error
	tinyDir  string
)

// tinyChatModel synthesizes (once per test run) a tiny random qwen2 model
// with the Qwen2.5 tokenizer embedded, through `zhiwen synth`.
func tinyChatModel(t *testing.T) string {
	t.Helper()
	tok := qwenTokenizer(t)
	tinyOnce.Do(func() {
		tinyDir, tinyErr = os.MkdirTemp("", "zhiwen-cli-test-")
		if tinyErr != nil {
			return
		}
		tinyPath = filepath.Join(tinyDir, "tiny.gguf")
		code, _, stderr := runCLI(t, "", "synth", "--shape", "tiny", "--quant", "q8_0", "--tokenizer", tok, tinyPath)
		if code != 0 {
			tinyErr = fmt.Errorf("synth exited %d: %s", code, stderr)
		}
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyDir != "" {
		os.RemoveAll(tinyDir)
	}
	os.Exit(code)
}

// tokenizerCases reads the shared oracle: test strings and their Qwen2 ids.
func tokenizerCases(t *testing.T) (texts []string, ids [][]int) {
	root := filepath.Join(repoRoot(t), "..", "shared", "testdata", "tokenizer", "cases")
	inp, err := os.ReadFile(filepath.Join(root, "common.inp"))
	if err != nil {
		t.Fatalf("test data missing: %v", err)
	}
	outp, err := os.ReadFile(filepath.Join(root, "qwen2.out"))
	if err != nil {
		t.Fatalf("test data missing: %v", err)
	}
	texts = strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(outp), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d test strings but %d expected lines", len(texts), len(lines))
	}
	for _, l := range lines {
		var row []int
		for _, f := range strings.Fields(l) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, n)
		}
		ids = append(ids, row)
	}
	return texts, ids
}

func TestTokenizeCommand(t *testing.T) {
	texts, want := tokenizerCases(t)
	tok := qwenTokenizer(t)
	model := tinyChatModel(t)
	// The oracle for a sample of the cases, through tokenizer.json and
	// through the tokenizer embedded in a GGUF file.
	for _, src := range []string{tok, model} {
		for _, i := range []int{0, 14, 21, len(texts) - 1} {
			code, stdout, stderr := runCLI(t, "", "tokenize", "--model", src, "--json", "--special=false", "--", texts[i])
			if code != 0 {
				t.Fatalf("tokenize exited %d: %s", code, stderr)
			}
			var res tokenizeResult
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("bad JSON %q: %v", stdout, err)
			}
			if fmt.Sprint(res.IDs) != fmt.Sprint(want[i]) || res.Count != len(want[i]) || len(res.Pieces) != len(res.IDs) {
				t.Errorf("%s: tokenize %q = %v, want %v", filepath.Base(src), texts[i], res.IDs, want[i])
			}
		}
	}
	// Special tokens are recognized by default; the plain listing shows pieces.
	code, stdout, _ := runCLI(t, "", "tokenize", "--model", tok, "<|im_start|>user Hello world")
	if code != 0 || !strings.Contains(stdout, "151644  <|im_start|>") || !strings.Contains(stdout, "Ġworld") || !strings.Contains(stdout, "4 tokens") {
		t.Errorf("tokenize listing (exit %d):\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "", "tokenize", "--model", filepath.Join(t.TempDir(), "missing.gguf"), "x"); code != 1 || !strings.Contains(stderr, "missing.gguf") {
		t.Errorf("missing file: exit %d, %q", code, stderr)
	}
}

func TestRunCommand(t *testing.T) {
	model := tinyChatModel(t)
	var first runResult
	for i := range 2 {
		code, stdout, stderr := runCLI(t, "", "run", "--model", model, "--prompt", "年假有几天？", "-n", "12", "--temp", "0", "--json")
		if code != 0 {
			t.Fatalf("run exited %d: %s", code, stderr)
		}
		var res runResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("bad JSON %q: %v", stdout, err)
		}
		if res.PromptTokens < 10 || res.CompletionTokens < 1 || res.CompletionTokens > 12 || res.Model != "tiny.gguf" {
			t.Errorf("run result %+v", res)
		}
		if i == 0 {
			first = res
		} else if res.Text != first.Text || res.CompletionTokens != first.CompletionTokens {
			t.Errorf("greedy runs differ: %q vs %q", first.Text, res.Text)
		}
	}
	// Streaming mode writes the text and then the timing line on stderr.
	code, stdout, stderr := runCLI(t, "", "run", "--model", model, "-n", "12", "--temp", "0", "年假有几天？")
	if code != 0 || strings.TrimSuffix(stdout, "\n") != first.Text || !strings.Contains(stderr, "tokens generated") {
		t.Errorf("streaming run (exit %d): stdout %q, want %q; stderr %q", code, stdout, first.Text, stderr)
	}
	// The chat REPL answers each line and keeps the history.
	code, stdout, stderr = runCLI(t, "hello\nand then?\n/reset\nagain\n/exit\nnot read\n", "run", "--model", model, "--chat", "-n", "4", "--seed", "5")
	if code != 0 {
		t.Fatalf("chat exited %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, "tokens generated"); n != 3 {
		t.Errorf("chat answered %d times, want 3:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "history cleared") {
		t.Errorf("no /reset acknowledgement: %s", stderr)
	}
	// The second turn's prompt holds the first exchange; after /reset the
	// prompt is as short as the first one's.
	var prompts []int
	for _, l := range strings.Split(stderr, "\n") {
		if _, rest, ok := strings.Cut(l, "[prompt "); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			prompts = append(prompts, n)
		}
	}
	if len(prompts) != 3 || prompts[1] <= prompts[0]+4 || prompts[2] >= prompts[1] {
		t.Errorf("prompt sizes per turn %v", prompts)
	}
	if code, _, stderr := runCLI(t, "", "run", "--prompt", "x"); code != 2 || !strings.Contains(stderr, "--model is required") {
		t.Errorf("missing --model: exit %d, %q", code, stderr)
	}
}

func TestBenchCommand(t *testing.T) {
	model := tinyChatModel(t)
	code, stdout, stderr := runCLI(t, "", "bench", "--model", model, "-p", "16", "-n", "4", "--json")
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("bad JSON %q: %v", stdout, err)
	}
	if rep.BandwidthGBs <= 0 || len(rep.Models) != 1 {
		t.Fatalf("report %+v", rep)
	}
	r := rep.Models[0]
	s := synthShapes["tiny"]
	// Tied embeddings: no output matrix.
	wantParams := int64(s.Vocab*s.Hidden + s.Hidden + s.Layers*(2*s.Hidden+ // norms
		s.Hidden*s.Hidden+s.Hidden+ // q
		2*(s.Hidden*s.Hidden/s.Heads*s.KVHeads+s.Hidden/s.Heads*s.KVHeads)+ // k, v
		s.Hidden*s.Hidden+ // output projection
		3*s.Hidden*s.FFN))
	if r.Params != wantParams || r.Type != "Q8_0" || r.PromptTPS <= 0 || r.GenTPS <= 0 || r.WeightBytesPerToken <= 0 ||
		r.CeilingTPS <= 0 || math.Abs(r.DecodeEfficiency-r.GenTPS/r.CeilingTPS) > 1e-9 {
		t.Errorf("result %+v (want %d params)", r, wantParams)
	}
	code, stdout, _ = runCLI(t, "", "bench", "--model", model, "-p", "8", "-n", "2")
	for _, want := range []string{"| tiny.gguf | Q8_0 |", "| pp8 |", "| tg2 |", "decode ceiling", "memory read bandwidth", "stream the model's weights"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("bench table (exit %d) lacks %q:\n%s", code, want, stdout)
		}
	}
}

func TestQuantizeCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in := filepath.Join(dir, "f32.gguf")
	shape := llm.Shape{Arch: "qwen2", Vocab: 300, Hidden: 64, Layers: 1, Heads: 4, KVHeads: 2, FFN: 512, ContextLen: 128}
	if err := llm.SynthesizeQwen2(ctx, in, shape, llm.MixF32, 3); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ  string
		want map[string]gguf.TensorType
		tol  float64
	}{
		{"q8_0", map[string]gguf.TensorType{"blk.0.attn_q.weight": gguf.TypeQ8_0, "blk.0.ffn_down.weight": gguf.TypeQ8_0, "blk.0.attn_norm.weight": gguf.TypeF32, "blk.0.attn_q.bias": gguf.TypeF32}, 0.01},
		// Rows of 64 are not a multiple of 256: Q4_K falls back to Q5_0 and
		// Q6_K to Q8_0; ffn_down's rows of 512 take Q6_K.
		{"q4_k_m", map[string]gguf.TensorType{"blk.0.attn_q.weight": gguf.TypeQ5_0, "blk.0.attn_v.weight": gguf.TypeQ8_0, "blk.0.ffn_down.weight": gguf.TypeQ6_K, "output.weight": gguf.TypeQ8_0, "output_norm.weight": gguf.TypeF32}, 0.08},
	}
	src, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, tt := range tests {
		out := filepath.Join(dir, tt.typ+".gguf")
		code, _, stderr := runCLI(t, "", "quantize", "--type", tt.typ, in, out)
		if code != 0 {
			t.Fatalf("quantize %s exited %d: %s", tt.typ, code, stderr)
		}
		f, err := gguf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range tt.want {
			ti, ok := f.Tensor(name)
			if !ok || ti.Type != want {
				t.Errorf("%s: %s has type %v, want %v", tt.typ, name, ti.Type, want)
				continue
			}
			// The values survive within the type's error.
			orig, _ := src.Tensor(name)
			if e := tensorRelErr(t, src, orig, f, ti); e > tt.tol {
				t.Errorf("%s: %s relative error %.4f > %.3f", tt.typ, name, e, tt.tol)
			}
		}
		if ft, _ := f.Uint("general.file_type"); ft != uint64(quantTargets[tt.typ].fileType) {
			t.Errorf("%s: general.file_type %d", tt.typ, ft)
		}
		// The quantized model still loads and runs.
		net, err := llm.LoadNetwork(f, llm.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := llm.MeasureSpeed(ctx, net.(llm.Model), 4, 2, 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if code, _, stderr := runCLI(t, "", "quantize", "--type", "q3_k", in, filepath.Join(dir, "x.gguf")); code != 2 || !strings.Contains(stderr, "unknown --type") {
		t.Errorf("bad type: exit %d, %q", code, stderr)
	}
}

// tensorRelErr is ‖b − a‖ / ‖a‖ over the values of two tensors.
func tensorRelErr(t *testing.T, fa *gguf.File, a *gguf.TensorInfo, fb *gguf.File, b *gguf.TensorInfo) float64 {
	t.Helper()
	decode := func(f *gguf.File, ti *gguf.TensorInfo) []float32 {
		data, err := f.TensorData(ti)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, ti.Elements())
		if err := tensor.Dequantize(tensor.DType(ti.Type), data, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	x, y := decode(fa, a), decode(fb, b)
	var num, den float64
	for i := range x {
		d := float64(y[i] - x[i])
		num += d * d
		den += float64(x[i]) * float64(x[i])
	}
	return math.Sqrt(num / den)
}
