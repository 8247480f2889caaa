package ingest

import (
	"archive/zip"
	"bytes"
	"testing"
	"zhiwen/internal/testref"
)

// sharedTestdata returns the path of a file under ../shared/testdata (next
// to the repository root) and fails the test when it is missing.
func sharedTestdata(t testing.TB, parts ...string) string {
	t.Helper()
	return testref.Path(t, parts...)
}

func readSharedTestdata(t testing.TB, parts ...string) []byte {
	t.Helper()
	return testref.Read(t, parts...)
}

// zipEntry is one file of a zip built by a test.
type zipEntry struct {
	name, body string
}

// buildTestZip writes entries, deflated, into a zip archive.
func buildTestZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testWordNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"`

// testDocx builds a .docx from the inner XML of <w:body> and optional styles.
func testDocx(t testing.TB, body, styles string) []byte {
	t.Helper()
	entries := []zipEntry{
		{"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document ` + testWordNS + `><w:body>` + body + `</w:body></w:document>`},
	}
	if styles != "" {
		entries = append(entries, zipEntry{"word/styles.xml", `<?xml version="1.0"?><w:styles ` + testWordNS + `>` + styles + `</w:styles>`})
	}
	return buildTestZip(t, entries...)
}
