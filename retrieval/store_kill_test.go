package retrieval

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"zhiwen/ingest"
)

// Environment of a crash-test child process (see TestMain).
const (
	killChildEnv = "ZHIWEN_RETRIEVAL_KILL_CHILD" // store directory
	killOpEnv    = "ZHIWEN_RETRIEVAL_KILL_OP"    // put | delete | deletekb
	killPointEnv = "ZHIWEN_RETRIEVAL_KILL_POINT" // testHook point; empty: the parent kills
	killAtEnv    = "ZHIWEN_RETRIEVAL_KILL_AT"    // passages done at the point
)

const (
	killKB     = "崩溃测试"
	killDoc    = "big"
	killV1N    = 150
	killV2N    = 260
	killMarker = "zhiwenprobe"
)

// bigVersion is the chunks of version v of the crash-test document; every
// chunk carries a marker word of its version.
func bigVersion(v int) []ingest.Chunk {
	n := killV1N
	if v != 1 {
		n = killV2N
	}
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("版本%d标记 第%d段 公司 制度 条款 内容 %s ver%dmark", v, i, killMarker, v)
	}
	return textChunks(texts...)
}

// runKillChild runs one store operation and kills itself at the configured
// hook point. It prints "ready" once the store is open.
func runKillChild() int {
	dir := os.Getenv(killChildEnv)
	point := os.Getenv(killPointEnv)
	at, _ := strconv.Atoi(os.Getenv(killAtEnv))
	testHook = func(p string, n int) {
		if p == point && n >= at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	fmt.Println("ready")
	ctx := context.Background()
	switch op := os.Getenv(killOpEnv); op {
	case "put":
		err = s.PutDocument(ctx, testDoc(killKB, killDoc, "hash-v2"), bigVersion(2), nil)
	case "delete":
		err = s.DeleteDocument(ctx, killKB, killDoc)
	case "deletekb":
		err = s.DeleteKB(ctx, killKB)
	case "open": // recovery ran in Open
	default:
		err = fmt.Errorf("unknown op %q", op)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child close:", err)
		return 2
	}
	return 0
}

// TestCrashAtomicity re-runs the test binary as a child that replaces or
// deletes a large document (or deletes the knowledge base) and is SIGKILLed
// at a protocol step or after a random delay. After reopening, the document
// must be wholly the old or wholly the new version in metadata, lexical and
// dense, with no orphan chunks, and a further put must succeed.
func TestCrashAtomicity(t *testing.T) {
	tests := []struct {
		name, op, point string
		at              int
		want            string // v1 | v2 | gone | kbgone | either
		// before, when set, is a put killed at this point before the child
		// runs, so that the child's Open has a rollback to do.
		before string
	}{
		{"open/killed-during-rollback", "open", "delete-lexical", 0, "v1", "dense"},
		{"open/killed-again-mid-put", "put", "dense", writeBatch, "v1", "lexical"},
		{"put/after-intent", "put", "intent", 0, "v1", ""},
		{"put/lexical-first-batch", "put", "lexical", writeBatch, "v1", ""},
		{"put/lexical-mid", "put", "lexical", 3 * writeBatch, "v1", ""},
		{"put/dense-mid", "put", "dense", 2 * writeBatch, "v1", ""},
		{"put/after-commit", "put", "committed", 0, "v2", ""},
		{"put/garbage-half-deleted", "put", "delete-lexical", 0, "v2", ""},
		{"put/completes", "put", "never", 0, "v2", ""},
		{"put/random-1", "put", "", 0, "either", ""},
		{"put/random-2", "put", "", 0, "either", ""},
		{"put/random-3", "put", "", 0, "either", ""},
		{"delete/after-commit", "delete", "delete-committed", 0, "gone", ""},
		{"delete/garbage-half-deleted", "delete", "delete-lexical", 0, "gone", ""},
		{"deletekb/marked", "deletekb", "kb-delete-marked", 0, "kbgone", ""},
		{"deletekb/dirs-removed", "deletekb", "kb-delete-dirs-removed", 0, "kbgone", ""},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTestStore(t, dir)
			mustCreateKB(t, s, killKB)
			mustPut(t, s, testDoc(killKB, killDoc, "hash-v1"), bigVersion(1))
			mustPut(t, s, testDoc(killKB, "bystander", "hash-b"), textChunks("旁观 文档 "+killMarker))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			if tc.before != "" && !runChild(t, dir, "put", tc.before, 2*writeBatch) {
				t.Fatalf("first child was not killed at %s", tc.before)
			}
			killed := runChild(t, dir, tc.op, tc.point, tc.at)
			if tc.point != "" && tc.point != "never" && !killed {
				t.Fatalf("child was not killed at %s", tc.point)
			}

			s = openTestStore(t, dir)
			defer s.Close()
			ctx := context.Background()
			if tc.want == "kbgone" {
				if _, err := s.KB(ctx, killKB); err == nil {
					t.Fatal("knowledge base survived its interrupted delete")
				}
				recs, _ := s.kbRecords()
				entries, _ := os.ReadDir(s.kbDir(""))
				if len(recs) != 0 || len(entries) != 0 {
					t.Fatalf("leftovers after delete: %d records, %d directories", len(recs), len(entries))
				}
				mustCreateKB(t, s, killKB)
				return
			}
			got := docVersion(t, s)
			if tc.want == "either" {
				seen[got] = true
			}
			if tc.want != "either" && got != tc.want {
				t.Fatalf("after crash the document is %s, want %s", got, tc.want)
			}
			checkConsistent(t, s, killKB, "bystander", killMarker)
			if bs, _ := s.Chunks(ctx, killKB, "bystander"); len(bs) != 1 {
				t.Errorf("bystander document has %d chunks", len(bs))
			}
			// A further put works and leaves a consistent v3.
			mustPut(t, s, testDoc(killKB, killDoc, "hash-v3"), bigVersion(3))
			if got := docVersion(t, s); got != "v3" {
				t.Errorf("re-put after crash left %s", got)
			}
		})
	}
	t.Logf("random kills observed outcomes: %v", seen)
}

// runChild runs the child and reports whether it died by SIGKILL. With no
// kill point the parent kills it after a random delay once it is ready.
func runChild(t *testing.T, dir, op, point string, at int) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir, killOpEnv+"="+op, killPointEnv+"="+point, killAtEnv+"="+strconv.Itoa(at))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	if point == "" {
		if <-ready {
			time.Sleep(time.Duration(rand.IntN(1200)) * time.Millisecond)
			cmd.Process.Kill()
		}
	}
	err = cmd.Wait()
	if err == nil {
		return false
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	t.Fatalf("child failed: %v\n%s", err, stderr.String())
	return false
}

// docVersion checks the crash-test document for consistency and reports
// which version it is ("v1", "v2", "v3" or "gone").
func docVersion(t *testing.T, s *LocalStore) string {
	t.Helper()
	ctx := context.Background()
	st := checkConsistent(t, s, killKB, killDoc, killMarker)
	info, err := s.Document(ctx, killKB, killDoc)
	if err != nil {
		if len(st.metaIDs) != 0 {
			t.Fatalf("document record missing but %d chunks committed", len(st.metaIDs))
		}
		return "gone"
	}
	version := strings.TrimPrefix(info.Hash, "hash-")
	wantN := map[string]int{"v1": killV1N, "v2": killV2N, "v3": killV2N}[version]
	chunks, err := s.Chunks(ctx, killKB, killDoc)
	if err != nil || len(chunks) != wantN || info.Chunks != wantN {
		t.Fatalf("%s: %d chunks (%v), record says %d, want %d", version, len(chunks), err, info.Chunks, wantN)
	}
	mark := "ver" + version[1:] + "mark"
	for _, c := range chunks {
		if !strings.Contains(c.Text, mark) {
			t.Fatalf("%s chunk %s has text of another version: %q", version, c.ID, c.Text)
		}
	}
	// Each index holds exactly the committed chunks, so searching the other
	// versions' marker words finds nothing.
	for _, other := range []string{"ver1mark", "ver2mark", "ver3mark"} {
		if other == mark {
			continue
		}
		for _, mode := range []Mode{ModeLexical, ModeDense} {
			hits, err := s.Search(ctx, Query{KBs: []string{killKB}, Text: other, Mode: mode, K: 5})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				if strings.Contains(h.Chunk.Text, other) {
					t.Fatalf("%v search for %s found %s", mode, other, h.Chunk.ID)
				}
			}
		}
	}
	return version
}

// The kill points are placed by batch; small batches give the test many of
// them without large documents.
func init() { writeBatch = 64 }
