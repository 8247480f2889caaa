package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zhiwen/ingest"
	"zhiwen/internal/testref"
	"zhiwen/retrieval"
)

// cmrcText builds n bytes of real Chinese prose from the CMRC passages, with
// the passages separated as paragraphs.
func cmrcText(t testing.TB, n int) []byte {
	t.Helper()
	raw := testref.Read(t, "retrieval", "cmrc2018_dev.json")
	var ps []struct {
		ContextText string `json:"context_text"`
	}
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		p := ps[i%len(ps)]
		fmt.Fprintf(&b, "第%d段。%s\n\n", i, p.ContextText)
	}
	return b.Bytes()
}

type world struct {
	store *retrieval.LocalStore
	jobs  *ingest.Jobs
}

func openWorld(t testing.TB, dir string) *world {
	t.Helper()
	store, err := retrieval.Open(filepath.Join(dir, "store"), retrieval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ingest.OpenJobs(filepath.Join(dir, "jobs"), ingest.NewPipeline(store), 1)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	return &world{store: store, jobs: jobs}
}

func (w *world) close() {
	w.jobs.Close()
	w.store.Close()
}

func TestJobsIngestProgressAndCancel(t *testing.T) {
	ctx := context.Background()
	w := openWorld(t, t.TempDir())
	defer w.close()
	if _, err := w.store.CreateKB(ctx, retrieval.KBConfig{Name: "kb"}); err != nil {
		t.Fatal(err)
	}
	text := cmrcText(t, 300<<10)
	job, err := w.jobs.Submit("kb", "a.txt", bytes.NewReader(text), map[string]string{"team": "hr"})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := w.jobs.Watch(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stages []ingest.Stage
	var last ingest.Job
	for j := range ch {
		if n := len(stages); n == 0 || stages[n-1] != j.Progress.Stage {
			stages = append(stages, j.Progress.Stage)
		}
		if j.Fraction < last.Fraction {
			t.Errorf("progress went back from %.2f to %.2f", last.Fraction, j.Fraction)
		}
		last = j
	}
	if last.Status != ingest.JobSucceeded || last.Result == nil || last.Result.Chunks == 0 || last.Fraction != 1 {
		t.Fatalf("final job %+v", last)
	}
	if stages[len(stages)-1] != ingest.StageDone {
		t.Errorf("stages %v should end with done", stages)
	}
	docs, _ := w.store.Documents(ctx, "kb")
	if len(docs) != 1 || docs[0].Chunks != last.Result.Chunks || docs[0].Meta["team"] != "hr" {
		t.Fatalf("documents %+v", docs)
	}
	// The original is kept by content hash for download and re-ingest.
	if _, err := os.Stat(w.jobs.OriginalPath(docs[0].Hash)); err != nil {
		t.Errorf("original not kept: %v", err)
	}

	// A re-ingest of the same bytes runs again (Force) and keeps one document.
	re, err := w.jobs.SubmitReingest("kb", "a.txt", bytes.NewReader(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if re, err = w.jobs.Wait(ctx, re.ID); err != nil || re.Status != ingest.JobSucceeded || re.Result.Unchanged {
		t.Fatalf("re-ingest: %+v %v", re, err)
	}
	if docs, _ := w.store.Documents(ctx, "kb"); len(docs) != 1 {
		t.Fatalf("re-ingest duplicated the document: %+v", docs)
	}

	// Cancel a large job while it runs: the knowledge base keeps only the first document.
	big, err := w.jobs.Submit("kb", "b.txt", bytes.NewReader(cmrcText(t, 4<<20)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ = w.jobs.Watch(ctx, big.ID)
	for j := range ch {
		if j.Status == ingest.JobRunning {
			if err := w.jobs.Cancel(big.ID); err != nil {
				t.Fatal(err)
			}
		}
		last = j
	}
	if last.Status != ingest.JobCanceled {
		// A very fast machine may finish first; then the document must be whole.
		if last.Status != ingest.JobSucceeded {
			t.Fatalf("canceled job ended %s: %s", last.Status, last.Error)
		}
	} else if docs, _ := w.store.Documents(ctx, "kb"); len(docs) != 1 {
		t.Fatalf("a canceled job left a document behind: %+v", docs)
	}

	// A file of an unreadable type is refused at submit time.
	if _, err := w.jobs.Submit("kb", "x.png", bytes.NewReader([]byte("\x89PNG\r\n\x1a\nrest")), nil); err == nil || !strings.Contains(err.Error(), "x.png") {
		t.Fatalf("PNG accepted or error does not name the file: %v", err)
	}
}

// TestJobResumesAfterKill kills a process in the middle of ingesting a
// large document, reopens the same data directory, and checks that the
// job resumes and leaves exactly one whole copy of the document.
func TestJobResumesAfterKill(t *testing.T) {
	if dir := os.Getenv("ZHIWEN_JOB_CHILD_DIR"); dir != "" {
		runKillChild(t, dir)
		return
	}
	dir := t.TempDir()
	ctx := context.Background()
	w := openWorld(t, dir)
	if _, err := w.store.CreateKB(ctx, retrieval.KBConfig{Name: "kb"}); err != nil {
		t.Fatal(err)
	}
	w.close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestJobResumesAfterKill$", "-test.v")
	cmd.Env = append(os.Environ(), "ZHIWEN_JOB_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "INDEXING ") {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the child never reached the indexing stage")
	}

	w = openWorld(t, dir)
	defer w.close()
	jobs, err := w.jobs.List("kb", 0)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs after restart: %+v %v", jobs, err)
	}
	job, err := w.jobs.Wait(ctx, jobs[0].ID)
	if err != nil || job.Status != ingest.JobSucceeded {
		t.Fatalf("resumed job: %+v %v", job, err)
	}
	if job.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", job.Attempts)
	}
	docs, _ := w.store.Documents(ctx, "kb")
	if len(docs) != 1 {
		t.Fatalf("documents after resume: %+v", docs)
	}
	chunks, err := w.store.Chunks(ctx, "kb", docs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := len(ingest.Split(mustParse(t, "big.txt", cmrcText(t, 3<<19)), ingest.DefaultSplitOptions()))
	if len(chunks) != want || docs[0].Chunks != want {
		t.Fatalf("document has %d chunks (record says %d), want %d", len(chunks), docs[0].Chunks, want)
	}
	for i, c := range chunks {
		if c.Seq != i {
			t.Fatalf("chunk %d has seq %d", i, c.Seq)
		}
	}
	hits, err := w.store.Search(ctx, retrieval.Query{KBs: []string{"kb"}, Text: chunks[len(chunks)/2].Text, K: 3, Mode: retrieval.ModeLexical})
	if err != nil || len(hits) == 0 || hits[0].Chunk.ID != chunks[len(chunks)/2].ID {
		t.Fatalf("search after resume: %v %+v", err, hits)
	}
}

func mustParse(t testing.TB, name string, data []byte) *ingest.Parsed {
	t.Helper()
	p, err := ingest.Parse(context.Background(), name, data, ingest.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runKillChild is the child process of TestJobResumesAfterKill: it submits
// a large document and reports when indexing has begun, then waits to be killed.
func runKillChild(t *testing.T, dir string) {
	w := openWorld(t, dir)
	job, err := w.jobs.Submit("kb", "big.txt", bytes.NewReader(cmrcText(t, 3<<19)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := w.jobs.Watch(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for j := range ch {
		if j.Progress.Stage == ingest.StageIndexing && j.Progress.Done > 0 {
			fmt.Printf("INDEXING %d/%d\n", j.Progress.Done, j.Progress.Total)
			os.Stdout.Sync()
			time.Sleep(time.Minute)
		}
	}
	t.Fatal("the job finished before it could be killed")
}
