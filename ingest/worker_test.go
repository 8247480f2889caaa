//go:build unix

package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPDFWorkerLimits(t *testing.T) {
	data := pagesPDF([]string{helvetica}, []string{"BT /F1 12 Tf 72 720 Td (fine) Tj ET"})
	t.Cleanup(func() { SetPDFLimits(0, 0) })

	t.Run("timeout kills a hanging worker", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		t.Setenv(workerDebugEnv, "hang:"+pidFile)
		SetPDFLimits(700*time.Millisecond, 0)
		start := time.Now()
		_, err := PDFLoader{}.Parse(context.Background(), "hang.pdf", data)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "hang.pdf") {
			t.Errorf("error %v, want a timeout naming the file", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("returned after %s", d)
		}
		assertGone(t, pidFile)
	})

	t.Run("context cancel kills the worker", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		t.Setenv(workerDebugEnv, "hang:"+pidFile)
		SetPDFLimits(time.Minute, 0)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(500*time.Millisecond, cancel)
		start := time.Now()
		_, err := PDFLoader{}.Parse(ctx, "cancel.pdf", data)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("returned after %s", d)
		}
		assertGone(t, pidFile)
	})

	t.Run("memory cap stops the worker", func(t *testing.T) {
		t.Setenv(workerDebugEnv, "alloc")
		SetPDFLimits(30*time.Second, 64<<20)
		_, err := PDFLoader{}.Parse(context.Background(), "hog.pdf", data)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "out of memory") {
			t.Errorf("error %v, want out of memory", err)
		}
	})

	t.Run("normal worker after misbehaving ones", func(t *testing.T) {
		SetPDFLimits(0, 0)
		p, err := PDFLoader{}.Parse(context.Background(), "fine.pdf", data)
		if err != nil || len(p.Blocks) != 1 || p.Blocks[0].Text != "fine" {
			t.Fatalf("got %+v, %v", p, err)
		}
	})
}

// assertGone checks that the worker whose pid is in file has exited.
func assertGone(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("worker never started: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("worker %d still exists (kill 0: %v)", pid, err)
	}
}
