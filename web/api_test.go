package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zhiwen/generation"
	"zhiwen/ingest"
	"zhiwen/internal/testref"
	"zhiwen/retrieval"
)

func TestMain(m *testing.M) {
	ingest.ServeWorker()
	os.Exit(m.Run())
}

// testdata returns the path of a file in ../shared/testdata; it fails the
// test when the file is missing.
func testdata(t testing.TB, parts ...string) string {
	t.Helper()
	return testref.Path(t, parts...)
}

// testServer runs the whole product on a real HTTP listener over a real
// store in a temporary directory.
type testServer struct {
	*httptest.Server
	store *retrieval.LocalStore
	jobs  *ingest.Jobs
	svc   *generation.Service
}

func newTestServer(t testing.TB, maxUpload int64) *testServer {
	t.Helper()
	dir := t.TempDir()
	store, err := retrieval.Open(filepath.Join(dir, "store"), retrieval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := ingest.NewPipeline(store)
	if maxUpload > 0 {
		p.Limits.MaxFileBytes = maxUpload
	}
	jobs, err := ingest.OpenJobs(filepath.Join(dir, "jobs"), p, 2)
	if err != nil {
		t.Fatal(err)
	}
	convs, err := generation.OpenConversations(filepath.Join(dir, "conv.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &generation.Service{Retriever: store, Conversations: convs}
	srv := New(Config{Store: store, Jobs: jobs, Answers: svc, Embedder: retrieval.NewHashEmbedder(256), MaxUploadBytes: maxUpload, Version: "test"})
	ts := &testServer{Server: httptest.NewServer(srv.Handler()), store: store, jobs: jobs, svc: svc}
	t.Cleanup(func() {
		ts.Close()
		jobs.Close()
		convs.Close()
		store.Close()
	})
	return ts
}

// call sends a JSON request and decodes a JSON response into out (when non-nil); it returns the status.
func (ts *testServer) call(t testing.TB, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			r = strings.NewReader(b)
		default:
			buf, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			r = bytes.NewReader(buf)
		}
	}
	req, err := http.NewRequest(method, ts.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// upload posts files as multipart and returns the status and decoded body.
func (ts *testServer) upload(t testing.TB, kb string, files map[string][]byte) (int, uploadResponse) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, data := range files {
		w, err := mw.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	mw.Close()
	resp, err := http.Post(ts.URL+"/api/kbs/"+kb+"/documents", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out uploadResponse
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

type uploadResponse struct {
	Jobs    []ingest.Job `json:"jobs"`
	Refused []struct {
		Name, Code, Error string
	} `json:"refused"`
	Error struct{ Code, Message string } `json:"error"`
}

// waitJob follows a job's server-sent events until it is final.
func (ts *testServer) waitJob(t testing.TB, id string) ingest.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/jobs/"+id+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("job events content type %q", ct)
	}
	var last ingest.Job
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if err := json.Unmarshal([]byte(data), &last); err != nil {
				t.Fatalf("job event %q: %v", data, err)
			}
		}
	}
	if !last.Status.Final() {
		t.Fatalf("job %s stream ended in state %s", id, last.Status)
	}
	return last
}

func TestKnowledgeBaseAnswerFlow(t *testing.T) {
	ts := newTestServer(t, 0)
	docx, err := os.ReadFile(testdata(t, "docs", "policy.docx"))
	if err != nil {
		t.Fatal(err)
	}
	if code := ts.call(t, "POST", "/api/kbs", map[string]string{"name": "差旅制度", "description": "expense policy"}, nil); code != http.StatusCreated {
		t.Fatalf("create kb: %d", code)
	}
	code, up := ts.upload(t, "差旅制度", map[string][]byte{"policy.docx": docx})
	if code != http.StatusAccepted || len(up.Jobs) != 1 {
		t.Fatalf("upload: %d %+v", code, up)
	}
	job := ts.waitJob(t, up.Jobs[0].ID)
	if job.Status != ingest.JobSucceeded || job.Result == nil || job.Result.Chunks == 0 {
		t.Fatalf("job: %+v", job)
	}

	// Identical content again: accepted, and a no-op.
	_, up2 := ts.upload(t, "差旅制度", map[string][]byte{"policy.docx": docx})
	if job2 := ts.waitJob(t, up2.Jobs[0].ID); job2.Result == nil || !job2.Result.Unchanged {
		t.Fatalf("re-upload should be unchanged: %+v", job2)
	}

	var docs struct {
		Documents []retrieval.DocumentInfo `json:"documents"`
	}
	ts.call(t, "GET", "/api/kbs/差旅制度/documents", nil, &docs)
	if len(docs.Documents) != 1 || docs.Documents[0].Name != "policy.docx" || docs.Documents[0].Chunks != job.Result.Chunks {
		t.Fatalf("documents: %+v", docs)
	}
	docID := docs.Documents[0].ID
	var chunks struct{ Chunks []ingest.Chunk }
	ts.call(t, "GET", "/api/kbs/差旅制度/documents/"+docID+"/chunks", nil, &chunks)
	if len(chunks.Chunks) != job.Result.Chunks {
		t.Fatalf("chunk viewer: %d chunks, want %d", len(chunks.Chunks), job.Result.Chunks)
	}

	// The hit test.
	var sr struct{ Hits []retrieval.Hit }
	if code := ts.call(t, "POST", "/api/search", map[string]any{"kb": "差旅制度", "query": "一线城市部门经理住宿标准", "k": 3}, &sr); code != 200 || len(sr.Hits) == 0 {
		t.Fatalf("search: %d %+v", code, sr)
	}
	if !strings.Contains(sr.Hits[0].Chunk.Text, "700") {
		t.Errorf("top hit lacks the table row: %q", sr.Hits[0].Chunk.Text)
	}

	// Native answer, not streamed.
	var ans generation.Answer
	if code := ts.call(t, "POST", "/api/chat", map[string]any{"kb": "差旅制度", "question": "一线城市部门经理住宿标准是多少"}, &ans); code != 200 {
		t.Fatalf("chat: %d", code)
	}
	if !strings.Contains(ans.Text, "700") || len(ans.Citations) == 0 || ans.Refused {
		t.Fatalf("answer: %+v", ans)
	}
	if !strings.Contains(ans.Citations[0].Text, "700") || ans.Citations[0].DocName != "policy.docx" {
		t.Errorf("citation should be the table passage of policy.docx: %+v", ans.Citations[0])
	}
	// A follow-up in the same conversation is rewritten with its context.
	var follow generation.Answer
	ts.call(t, "POST", "/api/chat", map[string]any{"kb": "差旅制度", "question": "那二线城市呢？", "conversation_id": ans.ConversationID}, &follow)
	if !strings.Contains(follow.Query, "一线城市部门经理") || !strings.Contains(follow.Text, "500") {
		t.Errorf("follow-up: query %q answer %q", follow.Query, follow.Text)
	}
	var conv generation.Conversation
	ts.call(t, "GET", "/api/conversations/"+ans.ConversationID, nil, &conv)
	if len(conv.Turns) != 2 {
		t.Errorf("conversation has %d turns, want 2", len(conv.Turns))
	}

	// Native answer, streamed as server-sent events.
	events := ts.sse(t, "/api/chat", map[string]any{"kb": "差旅制度", "question": "一线城市部门经理住宿标准是多少", "stream": true})
	var types []string
	var text strings.Builder
	var done generation.Event
	for _, ev := range events {
		var e generation.Event
		json.Unmarshal([]byte(ev), &e)
		types = append(types, e.Type)
		if e.Type == "delta" {
			text.WriteString(e.Delta)
		}
		if e.Type == "done" {
			done = e
		}
	}
	if len(types) < 4 || types[0] != "query" || types[1] != "sources" || types[len(types)-1] != "done" {
		t.Fatalf("stream event types %v", types)
	}
	if done.Answer == nil || done.Answer.Text != text.String() || !strings.Contains(text.String(), "700") {
		t.Fatalf("streamed text %q vs final %+v", text.String(), done.Answer)
	}

	// OpenAI-compatible, not streamed and streamed.
	var models struct {
		Data []struct{ ID string } `json:"data"`
	}
	ts.call(t, "GET", "/v1/models", nil, &models)
	if len(models.Data) != 1 || models.Data[0].ID != "kb:差旅制度" {
		t.Fatalf("models: %+v", models)
	}
	var cc chatCompletion
	req := map[string]any{"model": "kb:差旅制度", "messages": []map[string]string{{"role": "user", "content": "一线城市部门经理住宿标准是多少"}}}
	if code := ts.call(t, "POST", "/v1/chat/completions", req, &cc); code != 200 {
		t.Fatalf("chat completions: %d", code)
	}
	if cc.Object != "chat.completion" || len(cc.Choices) != 1 || !strings.Contains(cc.Choices[0].Message.Content, "700") || len(cc.Citations) == 0 {
		t.Fatalf("completion: %+v", cc)
	}
	req["stream"] = true
	chunksSSE := ts.sse(t, "/v1/chat/completions", req)
	if chunksSSE[len(chunksSSE)-1] != "[DONE]" {
		t.Fatalf("stream must end with [DONE]: %q", chunksSSE)
	}
	var streamed strings.Builder
	var final chatCompletion
	for _, d := range chunksSSE[:len(chunksSSE)-1] {
		var ch chatCompletion
		if err := json.Unmarshal([]byte(d), &ch); err != nil {
			t.Fatalf("chunk %q: %v", d, err)
		}
		if ch.Object != "chat.completion.chunk" {
			t.Fatalf("chunk object %q", ch.Object)
		}
		streamed.WriteString(ch.Choices[0].Delta.Content)
		final = ch
	}
	if !strings.Contains(streamed.String(), "700") || final.Choices[0].FinishReason == nil || len(final.Citations) == 0 {
		t.Fatalf("streamed completion %q, final %+v", streamed.String(), final)
	}

	// Our own OpenAI client against our own OpenAI-compatible server.
	be := &generation.OpenAIBackend{BaseURL: ts.URL + "/v1", Model: "kb:差旅制度"}
	var got strings.Builder
	if _, err := be.Chat(context.Background(), generation.ChatRequest{Messages: []generation.Message{{Role: "user", Content: "一线城市部门经理住宿标准是多少"}}},
		func(d string) error { got.WriteString(d); return nil }); err != nil || !strings.Contains(got.String(), "700") {
		t.Fatalf("OpenAIBackend against the server: %q, %v", got.String(), err)
	}

	// Embeddings.
	var emb struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
			Index     int       `json:"index"`
		} `json:"data"`
	}
	ts.call(t, "POST", "/v1/embeddings", map[string]any{"input": []string{"住宿标准", "交通费"}}, &emb)
	if len(emb.Data) != 2 || len(emb.Data[0].Embedding) != 256 || emb.Data[1].Index != 1 {
		t.Fatalf("embeddings: %d items", len(emb.Data))
	}

	// Metrics count what happened.
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`zhiwen_http_requests_total{method="POST",route="/api/chat",code="200"}`, `zhiwen_kb_documents{kb="差旅制度"} 1`, `zhiwen_answers_total{backend="extractive"}`} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Deleting the document removes it from search.
	if code := ts.call(t, "DELETE", "/api/kbs/差旅制度/documents/"+docID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete document: %d", code)
	}
	ts.call(t, "POST", "/api/search", map[string]any{"kb": "差旅制度", "query": "一线城市部门经理住宿标准", "k": 3}, &sr)
	if len(sr.Hits) != 0 {
		t.Fatalf("deleted document still found: %+v", sr.Hits)
	}
}

// sse posts body and returns the data payloads of the event stream.
func (ts *testServer) sse(t testing.TB, path string, body any) []string {
	t.Helper()
	buf, _ := json.Marshal(body)
	resp, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestAPIErrors(t *testing.T) {
	ts := newTestServer(t, 64<<10)
	ts.call(t, "POST", "/api/kbs", map[string]string{"name": "kb1"}, nil)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"unknown kb", "GET", "/api/kbs/nope", nil, 404, "not_found"},
		{"duplicate kb", "POST", "/api/kbs", map[string]string{"name": "kb1"}, 409, "exists"},
		{"invalid kb name", "POST", "/api/kbs", map[string]string{"name": "a/b"}, 400, "invalid"},
		{"bad json", "POST", "/api/kbs", "{not json", 400, "invalid_json"},
		{"search without query", "POST", "/api/search", map[string]any{"kb": "kb1"}, 400, "invalid"},
		{"search bad mode", "POST", "/api/search", map[string]any{"kb": "kb1", "query": "x", "mode": "psychic"}, 400, "invalid"},
		{"chat unknown kb", "POST", "/api/chat", map[string]any{"kb": "nope", "question": "x"}, 404, "not_found"},
		{"chat empty question", "POST", "/api/chat", map[string]any{"kb": "kb1", "question": " ", "stream": true}, 400, "invalid"},
		{"completions no messages", "POST", "/v1/chat/completions", map[string]any{"model": "kb:kb1"}, 400, "invalid"},
		{"completions no kb", "POST", "/v1/chat/completions", map[string]any{"model": "gpt-4", "messages": []map[string]string{{"role": "user", "content": "hi"}}}, 400, "invalid"},
		{"completions unknown kb", "POST", "/v1/chat/completions", map[string]any{"model": "kb:nope", "messages": []map[string]string{{"role": "user", "content": "hi"}}}, 404, "not_found"},
		{"embeddings bad input", "POST", "/v1/embeddings", map[string]any{"input": 42}, 400, "invalid"},
		{"unknown job", "GET", "/api/jobs/nope", nil, 404, "not_found"},
		{"unknown conversation", "GET", "/api/conversations/nope", nil, 404, "not_found"},
		{"unknown api route", "GET", "/api/nothing", nil, 404, "not_found"},
		{"wrong method", "PUT", "/api/kbs", nil, 405, "method_not_allowed"},
		{"oversized body", "POST", "/api/search", `{"kb":"kb1","query":"` + strings.Repeat("x", 5<<20) + `"}`, 413, "too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			if got := ts.call(t, tc.method, tc.path, tc.body, &e); got != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("status %d code %q (%q), want %d %q", got, e.Error.Code, e.Error.Message, tc.status, tc.code)
			}
		})
	}
	uploads := []struct {
		name   string
		files  map[string][]byte
		status int
		code   string
	}{
		{"image", map[string][]byte{"photo.png": png}, 415, "unsupported_type"},
		{"too large", map[string][]byte{"big.txt": bytes.Repeat([]byte("大"), 40<<10)}, 413, "too_large"},
		{"garbage docx", map[string][]byte{"broken.docx": []byte("PK\x03\x04 this is not a zip")}, 422, "bad_file"},
	}
	for _, tc := range uploads {
		t.Run("upload "+tc.name, func(t *testing.T) {
			code, up := ts.upload(t, "kb1", tc.files)
			if code != tc.status || len(up.Refused) != 1 || up.Refused[0].Code != tc.code {
				t.Fatalf("status %d %+v, want %d %s", code, up, tc.status, tc.code)
			}
		})
	}
	// A failed upload leaves the knowledge base untouched and the server serving.
	var kb retrieval.KBInfo
	if code := ts.call(t, "GET", "/api/kbs/kb1", nil, &kb); code != 200 || kb.Documents != 0 {
		t.Fatalf("kb after bad uploads: %d %+v", code, kb)
	}
	if code := ts.call(t, "GET", "/healthz", nil, nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}
