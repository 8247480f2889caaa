package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Environment of a worker process.
const (
	workerEnv    = "ZHIWEN_INGEST_WORKER"     // "pdf": run as a PDF worker
	workerMemEnv = "ZHIWEN_INGEST_WORKER_MEM" // memory cap in bytes
	// workerDebugEnv makes a worker misbehave on purpose, for tests of the
	// parent's limits: "hang[:pidfile]" sleeps forever, "alloc" allocates
	// until the memory watchdog stops it.
	workerDebugEnv = "ZHIWEN_INGEST_WORKER_DEBUG"
)

// workerMagic starts a worker's output, so that the parent can tell a
// worker's answer from an executable that ignored the worker variable.
const workerMagic = "ZHIWEN-PDF-WORKER/1\n"

// Exit codes of a worker.
const (
	exitWorkerOK    = 0
	exitWorkerInput = 2  // could not read the input or write the result
	exitWorkerOOM   = 86 // the heap passed the memory cap
)

var warnNoWorker sync.Once

// ServeWorker must be the first call in main (and in TestMain) of every
// program that parses PDFs. When the process was started as an extraction
// worker (ZHIWEN_INGEST_WORKER=pdf), it reads a PDF from stdin, writes the
// result to stdout and exits; otherwise it returns at once and marks the
// executable as able to serve workers, which turns on process isolation.
func ServeWorker() {
	kind := os.Getenv(workerEnv)
	if kind == "" {
		workerServed.Store(true)
		return
	}
	os.Exit(runWorker(kind, os.Stdin, os.Stdout))
}

func runWorker(kind string, in io.Reader, out io.Writer) int {
	if kind != "pdf" {
		fmt.Fprintf(os.Stderr, "unknown worker kind %q\n", kind)
		return exitWorkerInput
	}
	limit, _ := strconv.ParseInt(os.Getenv(workerMemEnv), 10, 64)
	if limit <= 0 {
		limit = DefaultPDFMemoryLimit
	}
	debug.SetMemoryLimit(limit)
	go memoryWatchdog(limit)

	debugMode := os.Getenv(workerDebugEnv)
	switch {
	case strings.HasPrefix(debugMode, "hang"):
		if _, file, ok := strings.Cut(debugMode, ":"); ok {
			os.WriteFile(file, []byte(strconv.Itoa(os.Getpid())), 0o644)
		}
		select {}
	case debugMode == "alloc":
		var hog [][]byte
		for {
			hog = append(hog, bytes.Repeat([]byte{1}, 1<<20))
		}
	}

	data, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintf(os.Stderr, "read input: %v\n", err)
		return exitWorkerInput
	}
	res := extractPDFSafe(context.Background(), data)
	w := bufio.NewWriter(out)
	w.WriteString(workerMagic)
	if err := json.NewEncoder(w).Encode(res); err != nil {
		fmt.Fprintf(os.Stderr, "write result: %v\n", err)
		return exitWorkerInput
	}
	if err := w.Flush(); err != nil {
		return exitWorkerInput
	}
	return exitWorkerOK
}

// memoryWatchdog exits the process with exitWorkerOOM when the heap's
// object bytes pass limit. The Go runtime cannot recover from a real out of
// memory, so the worker stops itself first and the parent reports it.
func memoryWatchdog(limit int64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for {
		metrics.Read(sample)
		if v := sample[0].Value; v.Kind() == metrics.KindUint64 && int64(v.Uint64()) > limit {
			fmt.Fprintf(os.Stderr, "pdf worker: heap %d bytes exceeds cap %d\n", v.Uint64(), limit)
			os.Exit(exitWorkerOOM)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// maxWorkerOutput bounds what the parent accepts from a worker: the text
// cap plus room for JSON escaping of CJK text and block metadata.
const maxWorkerOutput = 8 * maxPDFTextBytes

// cappedBuffer keeps up to max bytes and notes whether more were written;
// it never fails a write, so the child is not killed by a broken pipe.
type cappedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.overflow = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// runPDFWorker extracts data in a child process running this executable.
// It kills the child when ctx ends or the time limit passes.
func runPDFWorker(ctx context.Context, data []byte) (*pdfResult, error) {
	if os.Getenv(workerEnv) != "" {
		return nil, fmt.Errorf("%w: already inside a worker", errWorkerUnavailable)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errWorkerUnavailable, err)
	}
	timeout := time.Duration(pdfTimeout.Load())
	limit := pdfMemoryLimit.Load()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), workerEnv+"=pdf", workerMemEnv+"="+strconv.FormatInt(limit, 10))
	cmd.Stdin = bytes.NewReader(data)
	stdout := &cappedBuffer{max: maxWorkerOutput}
	stderr := &tailBuffer{max: 4096}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", errWorkerUnavailable, exe, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return nil, ctx.Err()
	case <-timer.C:
		cmd.Process.Kill()
		<-done
		return nil, &pdfFailure{pdfFailMalformed, fmt.Sprintf("extraction timed out after %s", timeout)}
	}
	if err != nil {
		var exitErr *exec.ExitError
		code := -1
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		}
		msg := stderr.String()
		if code == exitWorkerOOM || strings.Contains(msg, "out of memory") {
			return nil, &pdfFailure{pdfFailMalformed, fmt.Sprintf("extraction ran out of memory (cap %d MiB)", limit>>20)}
		}
		return nil, &pdfFailure{pdfFailMalformed, fmt.Sprintf("extraction worker failed (%v): %s", err, lastLine(msg))}
	}
	if stdout.overflow {
		return nil, &pdfFailure{pdfFailMalformed, fmt.Sprintf("extraction output over %d MiB", maxWorkerOutput>>20)}
	}
	out := stdout.buf.Bytes()
	if !bytes.HasPrefix(out, []byte(workerMagic)) {
		return nil, fmt.Errorf("%w: %s did not answer as a worker (does main call ingest.ServeWorker first?)", errWorkerUnavailable, exe)
	}
	var res pdfResult
	if err := json.Unmarshal(out[len(workerMagic):], &res); err != nil {
		return nil, fmt.Errorf("%w: bad worker output: %v", errWorkerUnavailable, err)
	}
	return &res, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	if s == "" {
		return "no message"
	}
	return s
}
