package ingest

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as its own PDF extraction worker:
// the PDF loader re-executes this binary with ZHIWEN_INGEST_WORKER set.
func TestMain(m *testing.M) {
	ServeWorker()
	os.Exit(m.Run())
}
