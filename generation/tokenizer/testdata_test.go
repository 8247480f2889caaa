package tokenizer

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"zhiwen/internal/testref"
)

// sharedTestdata returns the path of a file under ../shared/testdata
// relative to the repository root (the directory holding go.mod). The
// reference data must be present: a missing file fails the test.
func sharedTestdata(t testing.TB, parts ...string) string {
	t.Helper()
	return testref.Path(t, parts...)
}

func readShared(t testing.TB, parts ...string) []byte {
	t.Helper()
	return testref.Read(t, parts...)
}

// vocabCase is one string of llama.cpp's common.inp with its expected ids.
type vocabCase struct {
	text string
	want []int
}

// loadCases reads common.inp (each string followed by
// "\n__ggml_vocab_test__\n") and one expected-output file (one line of
// space-separated ids per string).
func loadCases(t testing.TB, outFile string) []vocabCase {
	t.Helper()
	inp := string(readShared(t, "tokenizer", "cases", "common.inp"))
	const sep = "\n__ggml_vocab_test__\n"
	if !strings.HasSuffix(inp, sep) {
		t.Fatalf("common.inp does not end with the separator")
	}
	texts := strings.Split(strings.TrimSuffix(inp, sep), sep)
	lines := strings.Split(strings.TrimSuffix(string(readShared(t, "tokenizer", "cases", outFile)), "\n"), "\n")
	if len(texts) != 43 || len(lines) != len(texts) {
		t.Fatalf("got %d strings and %d expected lines, want 43 each", len(texts), len(lines))
	}
	cases := make([]vocabCase, len(texts))
	for i, text := range texts {
		cases[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", outFile, i+1, err)
			}
			cases[i].want = append(cases[i].want, id)
		}
	}
	return cases
}

var (
	qwenOnce sync.Once
	qwenTok  *Tokenizer
	qwenErr  error
	qwenJSON []byte
)

// qwenTokenizer loads the Qwen2.5 tokenizer.json once per test binary.
func qwenTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	path := sharedTestdata(t, "tokenizer", "qwen2.5", "tokenizer.json")
	qwenOnce.Do(func() {
		qwenJSON, qwenErr = os.ReadFile(path)
		if qwenErr == nil {
			qwenTok, qwenErr = LoadHuggingFace(path)
		}
	})
	if qwenErr != nil {
		t.Fatal(qwenErr)
	}
	return qwenTok
}

func llamaTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := LoadSentencePieceModel(sharedTestdata(t, "tokenizer", "llama2", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func equalIDs(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
