package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zhiwen/ingest"
	"zhiwen/retrieval"
)

var (
	loadDuration = flag.Duration("load.duration", 0, "run TestLoad for this long with the full 20 MB upload (0: a 3 s smoke run with a 0.3 MB upload)")
	loadWhole    = flag.Bool("load.whole-ingest", false, "keep TestLoad's clients asking until the upload is committed, even past -load.duration")
	loadClients  = flag.Int("load.clients", 50, "concurrent chat clients in TestLoad")
	loadUploadMB = flag.Float64("load.upload-mb", 0, "size of the document TestLoad ingests under load, in MB (0: 20 with -load.duration, else 0.3)")
)

// loadHelperEnv makes TestLoadServerProcess run a server for TestLoad.
const loadHelperEnv = "ZHIWEN_LOAD_SERVER_PROCESS"

// loadReadyPrefix starts the line on which the server process announces itself.
const loadReadyPrefix = "ZHIWEN_LOAD_READY "

type loadReady struct {
	URL   string              `json:"url"`
	PID   int                 `json:"pid"`
	Split ingest.SplitOptions `json:"split"`
	Lim   ingest.Limits       `json:"limits"`
}

// TestLoadServerProcess is not a test of its own: TestLoad starts the test
// binary again with loadHelperEnv set so that the server under load runs
// in its own process, whose memory can be measured apart from the clients.
func TestLoadServerProcess(t *testing.T) {
	if os.Getenv(loadHelperEnv) != "1" {
		t.Skip("helper process for TestLoad")
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ts := newTestServer(t, 0)
	p := ingest.NewPipeline(nil) // newTestServer's pipeline options: the defaults
	ready, err := json.Marshal(loadReady{URL: ts.URL, PID: os.Getpid(), Split: p.Split, Lim: p.Limits})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%s\n", loadReadyPrefix, ready)
	// Serve until the parent closes stdin.
	io.Copy(io.Discard, os.Stdin)
}

// loadServer is a server process started by startLoadServer.
type loadServer struct {
	loadReady
	stdin  io.WriteCloser
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startLoadServer(t *testing.T) *loadServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadServerProcess$", "-test.count=1", "-test.timeout=2h")
	cmd.Env = append(os.Environ(), loadHelperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &loadServer{stdin: stdin, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server process: %v", err)
	}
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		announced := false
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, loadReadyPrefix); ok && !announced {
				announced = true
				found <- json.Unmarshal([]byte(rest), &s.loadReady)
			}
		}
		if !announced {
			found <- fmt.Errorf("server process exited without announcing itself")
		}
		s.done <- cmd.Wait()
	}()
	select {
	case err := <-found:
		if err != nil {
			t.Fatalf("server process: %v\nstderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server process did not start in 60 s\nstderr:\n%s", s.stderr.String())
	}
	t.Cleanup(func() {
		s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// rssKiB reads a process's resident set size (VmRSS) and peak (VmHWM) from
// /proc; ok is false where /proc is not available.
func rssKiB(pid int) (rss, hwm int64, ok bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return rss, hwm, rss > 0
}

// cmrcPassage is one passage of the CMRC 2018 dev set.
type cmrcPassage struct {
	ID   string `json:"context_id"`
	Text string `json:"context_text"`
	QAs  []struct {
		Query string `json:"query_text"`
	} `json:"qas"`
}

func readCMRC(t testing.TB) []cmrcPassage {
	t.Helper()
	raw, err := os.ReadFile(testdata(t, "retrieval", "cmrc2018_dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []cmrcPassage
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatalf("cmrc2018_dev.json: %v", err)
	}
	if len(ps) < 200 {
		t.Fatalf("cmrc2018_dev.json has %d passages, want at least 200", len(ps))
	}
	return ps
}

// chineseSentences splits passages into sentences ending in 。！？ (a tail
// without a terminator is a sentence too).
func chineseSentences(ps []cmrcPassage) []string {
	var out []string
	for _, p := range ps {
		start := 0
		rs := []rune(p.Text)
		for i, r := range rs {
			if r == '。' || r == '！' || r == '？' {
				if s := strings.TrimSpace(string(rs[start : i+1])); len([]rune(s)) > 4 {
					out = append(out, s)
				}
				start = i + 1
			}
		}
		if s := strings.TrimSpace(string(rs[start:])); len([]rune(s)) > 4 {
			out = append(out, s+"。")
		}
	}
	return out
}

// generateChineseText writes about size bytes of plain Chinese text:
// sections with numbered headings, each a few paragraphs of CMRC sentences
// drawn at random, so no two paragraphs are alike.
func generateChineseText(sentences []string, size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b bytes.Buffer
	b.Grow(size + 4096)
	for section := 1; b.Len() < size; section++ {
		fmt.Fprintf(&b, "第%d节 %s\n\n", section, strings.TrimRight(sentences[rng.IntN(len(sentences))], "。！？"))
		for para := 2 + rng.IntN(4); para > 0 && b.Len() < size; para-- {
			for n := 2 + rng.IntN(6); n > 0; n-- {
				b.WriteString(sentences[rng.IntN(len(sentences))])
			}
			b.WriteString("\n\n")
		}
	}
	return b.Bytes()
}

// loadStats collects what the clients saw.
type loadStats struct {
	mu         sync.Mutex
	latency    []time.Duration // every successful request
	firstByte  []time.Duration // streamed: to the first event
	firstDelta []time.Duration // streamed: to the first answer text
	streamed   int
	errors     []string
	errorCount int
}

func (s *loadStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errorCount++
	if len(s.errors) < 20 {
		s.errors = append(s.errors, fmt.Sprintf(format, args...))
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// askOnce sends one chat completion and checks the response completely.
func askOnce(ctx context.Context, client *http.Client, base, kb, question string, stream bool, st *loadStats) {
	body, _ := json.Marshal(map[string]any{
		"model":    "kb:" + kb,
		"messages": []map[string]string{{"role": "user", "content": question}},
		"stream":   stream,
	})
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		st.fail("new request: %v", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		st.fail("POST: %v", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		st.fail("status %d: %s", resp.StatusCode, raw)
		return
	}
	if !stream {
		var cc chatCompletion
		if err := json.NewDecoder(resp.Body).Decode(&cc); err != nil {
			st.fail("decode completion: %v", err)
			return
		}
		if cc.Object != "chat.completion" || len(cc.Choices) != 1 || cc.Choices[0].Message == nil || cc.Choices[0].Message.Content == "" {
			st.fail("malformed completion: %+v", cc)
			return
		}
		d := time.Since(start)
		st.mu.Lock()
		st.latency = append(st.latency, d)
		st.mu.Unlock()
		return
	}
	var firstByte, firstDelta time.Duration
	var text strings.Builder
	finished, done := false, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if firstByte == 0 {
			firstByte = time.Since(start)
		}
		if done {
			st.fail("data after [DONE]: %q", data)
			return
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var ch struct {
			chatCompletion
			Error *json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			st.fail("stream chunk %q: %v", data, err)
			return
		}
		if ch.Error != nil {
			st.fail("error in stream: %s", *ch.Error)
			return
		}
		if ch.Object != "chat.completion.chunk" || len(ch.Choices) != 1 || finished {
			st.fail("malformed stream chunk %q", data)
			return
		}
		if d := ch.Choices[0].Delta; d != nil && d.Content != "" {
			if firstDelta == 0 {
				firstDelta = time.Since(start)
			}
			text.WriteString(d.Content)
		}
		if ch.Choices[0].FinishReason != nil {
			finished = true
		}
	}
	if err := sc.Err(); err != nil {
		st.fail("read stream: %v", err)
		return
	}
	if !done || !finished || text.Len() == 0 {
		st.fail("stream ended early: done %v finished %v text %q", done, finished, text.String())
		return
	}
	d := time.Since(start)
	st.mu.Lock()
	st.latency = append(st.latency, d)
	st.firstByte = append(st.firstByte, firstByte)
	st.firstDelta = append(st.firstDelta, firstDelta)
	st.streamed++
	st.mu.Unlock()
}

// doJSON sends a JSON request (body may be nil) and decodes the answer.
func doJSON(ctx context.Context, client *http.Client, method, url string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %.200q: %w", method, url, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// uploadFile posts one file as multipart and returns its ingest job.
func uploadFile(ctx context.Context, client *http.Client, base, kb, name string, data []byte) (ingest.Job, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile("files", name)
	if err != nil {
		return ingest.Job{}, err
	}
	w.Write(data)
	mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/kbs/"+kb+"/documents", &buf)
	if err != nil {
		return ingest.Job{}, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := client.Do(req)
	if err != nil {
		return ingest.Job{}, fmt.Errorf("upload %s: %w", name, err)
	}
	defer resp.Body.Close()
	var out struct {
		Jobs    []ingest.Job      `json:"jobs"`
		Refused []json.RawMessage `json:"refused"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusAccepted || len(out.Jobs) != 1 {
		return ingest.Job{}, fmt.Errorf("upload %s: status %d: %.300s", name, resp.StatusCode, raw)
	}
	return out.Jobs[0], nil
}

// waitJobPolling polls a job until it is final.
func waitJobPolling(ctx context.Context, client *http.Client, base, id string) (ingest.Job, error) {
	for {
		var job ingest.Job
		code, err := doJSON(ctx, client, "GET", base+"/api/jobs/"+id, nil, &job)
		if err != nil {
			return job, err
		}
		if code != http.StatusOK {
			return job, fmt.Errorf("job %s: status %d", id, code)
		}
		if job.Status.Final() {
			return job, nil
		}
		select {
		case <-ctx.Done():
			return job, fmt.Errorf("job %s still %s: %w", id, job.Status, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestLoad runs 50 chat clients (streamed and not) against a server
// process over loopback while a large Chinese text document ingests into
// the same knowledge base, then checks: no request failed, the server
// counted exactly the requests sent, and the document holds exactly the
// chunks ingest.Split makes of it, numbered 0..n-1, findable by search.
//
// By default it is a 3 s smoke run with a 0.3 MB upload; the issue's
// target is go test ./web -run 'TestLoad$' -load.duration=60s -v, and
// -load.whole-ingest keeps the clients asking until the upload is committed.
func TestLoad(t *testing.T) {
	duration, uploadMB := 3*time.Second, 0.3
	if *loadDuration > 0 {
		duration, uploadMB = *loadDuration, 20
	}
	if *loadUploadMB > 0 {
		uploadMB = *loadUploadMB
	}
	clients := *loadClients
	passages := readCMRC(t)
	policy, err := os.ReadFile(testdata(t, "docs", "policy.docx"))
	if err != nil {
		t.Fatal(err)
	}
	srv := startLoadServer(t)
	base := srv.URL
	ctx := context.Background()
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConns: clients + 16, MaxIdleConnsPerHost: clients + 16, IdleConnTimeout: time.Minute}}
	defer httpClient.CloseIdleConnections()

	// A knowledge base pre-filled with the policy and 180 CMRC passages in three files.
	const kb = "负载"
	if code, err := doJSON(ctx, httpClient, "POST", base+"/api/kbs", map[string]string{"name": kb}, nil); err != nil || code != http.StatusCreated {
		t.Fatalf("create kb: %d %v", code, err)
	}
	questions := []string{"一线城市部门经理住宿标准是多少", "二线城市普通员工住宿标准是多少", "出差交通费怎么报销"}
	prefill := map[string][]byte{"policy.docx": policy}
	for f := range 3 {
		var b strings.Builder
		for i, p := range passages[f*60 : (f+1)*60] {
			fmt.Fprintf(&b, "# 第%d篇\n\n%s\n\n", f*60+i+1, p.Text)
			for _, qa := range p.QAs {
				questions = append(questions, qa.Query)
			}
		}
		prefill[fmt.Sprintf("cmrc-%d.md", f+1)] = []byte(b.String())
	}
	for name, data := range prefill {
		job, err := uploadFile(ctx, httpClient, base, kb, name, data)
		if err != nil {
			t.Fatal(err)
		}
		if job, err = waitJobPolling(ctx, httpClient, base, job.ID); err != nil || job.Status != ingest.JobSucceeded {
			t.Fatalf("prefill %s: %+v %v", name, job, err)
		}
	}

	// The document to ingest under load.
	genStart := time.Now()
	upload := generateChineseText(chineseSentences(passages), int(uploadMB*1e6), 2018)
	const uploadName = "cmrc-recombined.txt"
	t.Logf("generated %s: %.1f MB of Chinese text in %v", uploadName, float64(len(upload))/1e6, time.Since(genStart).Round(time.Millisecond))

	idleRSS, _, haveRSS := rssKiB(srv.PID)
	var rssMax, rssSum, rssN atomic.Int64
	samplerCtx, stopSampler := context.WithCancel(ctx)
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() {
		defer samplerDone.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-samplerCtx.Done():
				return
			case <-tick.C:
				if rss, _, ok := rssKiB(srv.PID); ok {
					rssSum.Add(rss)
					rssN.Add(1)
					if rss > rssMax.Load() {
						rssMax.Store(rss)
					}
				}
			}
		}
	}()

	// Load: clients ask until the deadline while the upload ingests.
	loadStart := time.Now()
	deadline := loadStart.Add(duration)
	type ingestOutcome struct {
		job       ingest.Job
		err       error
		took      time.Duration
		uploadDur time.Duration
	}
	ingestDone := make(chan ingestOutcome, 1)
	var ingestFinished atomic.Bool
	var uploadJobID atomic.Value
	go func() {
		defer ingestFinished.Store(true)
		start := time.Now()
		job, err := uploadFile(ctx, httpClient, base, kb, uploadName, upload)
		up := time.Since(start)
		if err == nil {
			uploadJobID.Store(job.ID)
			wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
			job, err = waitJobPolling(wctx, httpClient, base, job.ID)
			cancel()
		}
		ingestDone <- ingestOutcome{job: job, err: err, took: time.Since(start), uploadDur: up}
	}()
	st := &loadStats{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for n := 0; time.Now().Before(deadline) || (*loadWhole && !ingestFinished.Load()); n++ {
				askOnce(ctx, httpClient, base, kb, questions[rng.IntN(len(questions))], (n+c)%2 == 0, st)
			}
		}()
	}
	wg.Wait()
	loadTime := time.Since(loadStart)
	rssLoadMean := int64(0)
	if n := rssN.Load(); n > 0 {
		rssLoadMean = rssSum.Load() / n
	}
	rssLoadMax := rssMax.Load()
	if id, ok := uploadJobID.Load().(string); ok && !ingestFinished.Load() {
		var job ingest.Job
		if _, err := doJSON(ctx, httpClient, "GET", base+"/api/jobs/"+id, nil, &job); err == nil {
			t.Logf("at the end of the load window the upload was %s, %d of %d chunks indexed", job.Status, job.Progress.Done, job.Progress.Total)
		}
	}
	ing := <-ingestDone
	stopSampler()
	samplerDone.Wait()
	_, hwm, _ := rssKiB(srv.PID)

	requests := len(st.latency) + st.errorCount
	mb := float64(len(upload)) / 1e6
	t.Logf("load: %d clients for %v: %d requests (%d streamed), %d errors, %.1f req/s",
		clients, loadTime.Round(time.Millisecond), requests, st.streamed, st.errorCount, float64(len(st.latency))/loadTime.Seconds())
	t.Logf("latency: p50 %v  p99 %v  max %v", percentile(st.latency, 50).Round(time.Microsecond), percentile(st.latency, 99).Round(time.Microsecond), percentile(st.latency, 100).Round(time.Microsecond))
	t.Logf("streamed: first event p50 %v p99 %v; first answer text p50 %v p99 %v",
		percentile(st.firstByte, 50).Round(time.Microsecond), percentile(st.firstByte, 99).Round(time.Microsecond),
		percentile(st.firstDelta, 50).Round(time.Microsecond), percentile(st.firstDelta, 99).Round(time.Microsecond))
	if ing.err == nil {
		t.Logf("ingest of %.1f MB: upload %v, upload to committed %v (%.2f MB/s), %d chunks; finished %s the load window",
			mb, ing.uploadDur.Round(time.Millisecond), ing.took.Round(time.Millisecond), mb/ing.took.Seconds(), resultChunks(ing.job),
			map[bool]string{true: "inside", false: "after"}[ing.took <= loadTime])
	}
	if haveRSS {
		t.Logf("server RSS: idle %.1f MiB, under load mean %.1f MiB max %.1f MiB, peak (VmHWM) %.1f MiB",
			float64(idleRSS)/1024, float64(rssLoadMean)/1024, float64(rssLoadMax)/1024, float64(hwm)/1024)
	}

	for _, e := range st.errors {
		t.Errorf("request failed: %s", e)
	}
	if st.errorCount > 0 {
		t.Errorf("%d of %d requests failed", st.errorCount, requests)
	}
	if len(st.latency) == 0 || st.streamed == 0 || st.streamed == len(st.latency) {
		t.Errorf("want both streamed and plain answers: %d answers, %d streamed", len(st.latency), st.streamed)
	}
	if ing.err != nil || ing.job.Status != ingest.JobSucceeded || ing.job.Result == nil {
		t.Fatalf("ingest under load: %+v %v\nserver stderr:\n%s", ing.job, ing.err, srv.stderr.String())
	}

	// The server counted exactly the requests the clients sent, all 200.
	checkCompletionMetrics(t, ctx, httpClient, base, requests)

	// No lost or duplicated chunks: the stored document is exactly what
	// the pipeline's splitter makes of the file.
	parsed, err := ingest.Parse(ctx, uploadName, upload, srv.Lim)
	if err != nil {
		t.Fatalf("parse the upload again: %v", err)
	}
	want := ingest.Split(parsed, srv.Split)
	docID := ing.job.Result.DocID
	var stored struct{ Chunks []ingest.Chunk }
	if code, err := doJSON(ctx, httpClient, "GET", base+"/api/kbs/"+kb+"/documents/"+docID+"/chunks", nil, &stored); err != nil || code != http.StatusOK {
		t.Fatalf("list chunks: %d %v", code, err)
	}
	if len(stored.Chunks) != len(want) || ing.job.Result.Chunks != len(want) {
		t.Fatalf("stored %d chunks (job says %d), ingest.Split gives %d", len(stored.Chunks), ing.job.Result.Chunks, len(want))
	}
	ids := map[string]bool{}
	for i, c := range stored.Chunks {
		if c.Seq != i || c.DocID != docID || ids[c.ID] {
			t.Fatalf("chunk %d: seq %d doc %s id %s (duplicate %v)", i, c.Seq, c.DocID, c.ID, ids[c.ID])
		}
		ids[c.ID] = true
		if c.Text != want[i].Text || c.Start != want[i].Start || c.End != want[i].End {
			t.Fatalf("chunk %d differs from ingest.Split's: stored [%d,%d) %.40q, want [%d,%d) %.40q", i, c.Start, c.End, c.Text, want[i].Start, want[i].End, want[i].Text)
		}
	}
	var docs struct {
		Documents []retrieval.DocumentInfo `json:"documents"`
	}
	doJSON(ctx, httpClient, "GET", base+"/api/kbs/"+kb+"/documents", nil, &docs)
	if len(docs.Documents) != len(prefill)+1 {
		t.Errorf("%d documents in the knowledge base, want %d", len(docs.Documents), len(prefill)+1)
	}

	// A sentence from the middle of the upload is found in it.
	probe := want[len(want)/2].Text
	if rs := []rune(probe); len(rs) > 40 {
		probe = string(rs[:40])
	}
	var found struct{ Hits []retrieval.Hit }
	if code, err := doJSON(ctx, httpClient, "POST", base+"/api/search", map[string]any{"kb": kb, "query": probe, "k": 10}, &found); err != nil || code != http.StatusOK {
		t.Fatalf("search: %d %v", code, err)
	}
	hit := false
	for _, h := range found.Hits {
		if h.Chunk.DocID == docID && strings.Contains(h.Chunk.Text, probe) {
			hit = true
			break
		}
	}
	if !hit {
		t.Errorf("search for %q did not find it in %s: %d hits", probe, uploadName, len(found.Hits))
	}
}

func resultChunks(j ingest.Job) int {
	if j.Result == nil {
		return 0
	}
	return j.Result.Chunks
}

// checkCompletionMetrics reads /metrics and checks that the server answered
// exactly want chat completions, all with 200.
func checkCompletionMetrics(t *testing.T, ctx context.Context, client *http.Client, base string, want int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ok, other := 0, 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, `zhiwen_http_requests_total{method="POST",route="/v1/chat/completions",`) {
			continue
		}
		f := strings.Fields(line)
		n, _ := strconv.Atoi(f[len(f)-1])
		if strings.Contains(line, `code="200"`) {
			ok += n
		} else {
			other += n
		}
	}
	if ok != want || other != 0 {
		t.Errorf("server metrics count %d chat completions with 200 and %d others; the clients sent %d", ok, other, want)
	}
}
