package web

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"zhiwen/generation"
	"zhiwen/ingest"
	"zhiwen/retrieval"
)

// openAINodeDir holds the npm project with the official OpenAI Node client.
const openAINodeDir = "testdata/openai-node"

// nodeClientSummary is what testdata/openai-node/client.mjs prints.
type nodeClientSummary struct {
	ClientVersion string   `json:"client_version"`
	Models        []string `json:"models"`
	Completion    struct {
		Object       string            `json:"object"`
		Model        string            `json:"model"`
		Text         string            `json:"text"`
		Role         string            `json:"role"`
		FinishReason string            `json:"finish_reason"`
		Citations    []citation        `json:"citations"`
		Usage        *generation.Usage `json:"usage"`
	} `json:"completion"`
	Stream struct {
		Object       string     `json:"object"`
		Chunks       int        `json:"chunks"`
		Role         string     `json:"role"`
		Text         string     `json:"text"`
		FinishReason string     `json:"finish_reason"`
		Citations    []citation `json:"citations"`
	} `json:"stream"`
	Embeddings struct {
		Default []nodeEmbedding `json:"default"`
		Float   []nodeEmbedding `json:"float"`
	} `json:"embeddings"`
}

type nodeEmbedding struct {
	Index     int       `json:"index"`
	Embedding []float64 `json:"embedding"`
}

// requireOpenAINode returns the node executable, failing (never skipping)
// when node or the installed client is missing.
func requireOpenAINode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run ./scripts/test.sh, which installs nodejs and the openai npm client")
	}
	if _, err := os.Stat(filepath.Join(openAINodeDir, "node_modules", "openai", "package.json")); err != nil {
		t.Fatalf("the openai npm client is not installed in web/%s: run ./scripts/test.sh (or npm ci there): %v", openAINodeDir, err)
	}
	return node
}

// TestOpenAINodeClient runs the official OpenAI Node client, unchanged,
// against the server: models, a completion, a streamed completion with its
// citations, and embeddings in the client's default (base64) and float forms.
func TestOpenAINodeClient(t *testing.T) {
	node := requireOpenAINode(t)
	ts := newTestServer(t, 0)
	docx, err := os.ReadFile(testdata(t, "docs", "policy.docx"))
	if err != nil {
		t.Fatal(err)
	}
	const kb = "差旅制度"
	if code := ts.call(t, "POST", "/api/kbs", map[string]string{"name": kb}, nil); code != http.StatusCreated {
		t.Fatalf("create kb: %d", code)
	}
	code, up := ts.upload(t, kb, map[string][]byte{"policy.docx": docx})
	if code != http.StatusAccepted || len(up.Jobs) != 1 {
		t.Fatalf("upload: %d %+v", code, up)
	}
	if job := ts.waitJob(t, up.Jobs[0].ID); job.Status != ingest.JobSucceeded {
		t.Fatalf("ingest job: %+v", job)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", ts.URL+"/v1", kb)
	cmd.Dir = openAINodeDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.mjs: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var got nodeClientSummary
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("decode client summary %q: %v", stdout.String(), err)
	}
	t.Logf("openai node client %s: %d stream chunks, answer %q", got.ClientVersion, got.Stream.Chunks, got.Completion.Text)

	if len(got.Models) == 0 || !slices.Contains(got.Models, "kb:"+kb) {
		t.Errorf("models.list() = %q, want it to include kb:%s", got.Models, kb)
	}

	c := got.Completion
	if c.Object != "chat.completion" || c.Role != "assistant" || c.FinishReason != "stop" {
		t.Errorf("completion object %q role %q finish %q", c.Object, c.Role, c.FinishReason)
	}
	if !strings.Contains(c.Text, "700") {
		t.Errorf("completion text lacks 700: %q", c.Text)
	}
	if len(c.Citations) == 0 || c.Citations[0].DocName != "policy.docx" || !strings.Contains(c.Citations[0].Text, "700") {
		t.Errorf("completion citations: %+v", c.Citations)
	}
	if c.Usage == nil || c.Usage.TotalTokens <= 0 {
		t.Errorf("completion usage: %+v", c.Usage)
	}

	s := got.Stream
	if s.Object != "chat.completion.chunk" || s.Role != "assistant" || s.FinishReason != "stop" || s.Chunks < 3 {
		t.Errorf("stream: object %q role %q finish %q, %d chunks", s.Object, s.Role, s.FinishReason, s.Chunks)
	}
	if s.Text != c.Text {
		t.Errorf("streamed text differs from the completion:\nstream:     %q\ncompletion: %q", s.Text, c.Text)
	}
	if len(s.Citations) != len(c.Citations) || len(s.Citations) == 0 || s.Citations[0].ChunkID != c.Citations[0].ChunkID {
		t.Errorf("stream citations %+v, completion citations %+v", s.Citations, c.Citations)
	}

	// Both embedding forms must carry the server's own vectors.
	want, err := retrieval.NewHashEmbedder(256).EmbedDocuments(ctx, []string{"住宿标准", "交通费"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  []nodeEmbedding
	}{
		{"default (base64)", got.Embeddings.Default},
		{"encoding_format float", got.Embeddings.Float},
	} {
		if len(tc.got) != len(want) {
			t.Errorf("embeddings %s: %d vectors, want %d", tc.name, len(tc.got), len(want))
			continue
		}
		for i, e := range tc.got {
			if e.Index != i || len(e.Embedding) != len(want[i]) {
				t.Errorf("embeddings %s[%d]: index %d, %d dimensions, want %d", tc.name, i, e.Index, len(e.Embedding), len(want[i]))
				continue
			}
			for j, v := range e.Embedding {
				if math.Abs(v-float64(want[i][j])) > 1e-6 {
					t.Errorf("embeddings %s[%d][%d] = %v, want %v", tc.name, i, j, v, want[i][j])
					break
				}
			}
		}
	}
}
