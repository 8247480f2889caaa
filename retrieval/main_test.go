package retrieval

import (
	"os"
	"testing"

	"zhiwen/ingest"
)

// TestMain is the package's only TestMain. A test binary started with
// killChildEnv set runs one store operation as a child process for the
// crash tests (store_kill_test.go) and exits without running tests.
func TestMain(m *testing.M) {
	ingest.ServeWorker()
	if os.Getenv(killChildEnv) != "" {
		os.Exit(runKillChild())
	}
	os.Exit(m.Run())
}
