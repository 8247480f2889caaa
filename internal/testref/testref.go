// Package testref locates the reference data that tests share: the
// ../shared/testdata folder beside the repository (see its README). The data
// must be there; a missing file fails the test rather than skipping it.
package testref

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// Path returns ../shared/testdata/<parts...> relative to the repository
// root and fails the test when it does not exist.
func Path(t testing.TB, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{RepoRoot(t), "..", "shared", "testdata"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("reference data missing (CI has ../shared beside the repository): %v", err)
	}
	return p
}

// Read returns the contents of a reference file.
func Read(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, parts...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
