package ingest

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxZipEntries caps the entries of an Office container; real documents have tens.
const maxZipEntries = 10000

// ratioCheckFloor is the entry size below which the compression ratio is not
// checked: small, highly regular XML parts legitimately compress very well.
const ratioCheckFloor = 1 << 20

// zipArchive reads parts of a zip container within Limits: declared sizes
// and ratios are checked before reading, and the bytes actually inflated are
// counted, so an entry whose header lies about its size is caught too.
type zipArchive struct {
	name  string
	lim   Limits
	files map[string]*zip.File // by lower-case slash path
	used  int64                // bytes inflated so far
}

func openZip(name string, data []byte, lim Limits) (*zipArchive, error) {
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, newParseError(name, ErrMalformed, "damaged zip container (truncated or corrupt)", err)
	}
	if len(r.File) > maxZipEntries {
		return nil, newParseError(name, ErrTooLarge, fmt.Sprintf("zip holds %d entries, over the limit of %d", len(r.File), maxZipEntries), nil)
	}
	z := &zipArchive{name: name, lim: lim, files: make(map[string]*zip.File, len(r.File))}
	for _, f := range r.File {
		z.files[normZipPath(f.Name)] = f
	}
	return z, nil
}

func normZipPath(p string) string {
	return strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(p, "\\", "/"), "/"))
}

func (z *zipArchive) has(p string) bool {
	_, ok := z.files[normZipPath(p)]
	return ok
}

func (z *zipArchive) hasPrefix(prefix string) bool {
	prefix = normZipPath(prefix)
	for n := range z.files {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// open returns a reader over one entry that fails with ErrTooLarge as soon
// as the entry inflates past its declared size, the ratio limit or the
// remaining expansion budget.
func (z *zipArchive) open(p string) (io.ReadCloser, error) {
	f, ok := z.files[normZipPath(p)]
	if !ok {
		return nil, newParseError(z.name, ErrMalformed, "missing part "+p, nil)
	}
	declared := f.UncompressedSize64
	remaining := z.lim.MaxExpandedBytes - z.used
	if declared > uint64(max(remaining, 0)) {
		return nil, newParseError(z.name, ErrTooLarge, fmt.Sprintf("part %s declares %d bytes uncompressed, over the %d-byte expansion limit", p, declared, z.lim.MaxExpandedBytes), nil)
	}
	if declared > ratioCheckFloor && declared > uint64(z.lim.MaxCompressionRatio)*max(f.CompressedSize64, 1) {
		return nil, newParseError(z.name, ErrTooLarge, fmt.Sprintf("part %s has compression ratio %d, over the limit of %d (zip bomb?)", p, declared/max(f.CompressedSize64, 1), z.lim.MaxCompressionRatio), nil)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, newParseError(z.name, ErrMalformed, "open part "+p, err)
	}
	return &countingReader{z: z, part: p, rc: rc, declared: int64(declared), compressed: int64(f.CompressedSize64)}, nil
}

// read returns one entry's bytes, within the limits.
func (z *zipArchive) read(p string) ([]byte, error) {
	rc, err := z.open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type countingReader struct {
	z          *zipArchive
	part       string
	rc         io.ReadCloser
	n          int64
	declared   int64
	compressed int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n += int64(n)
	c.z.used += int64(n)
	switch {
	case c.n > c.declared:
		return 0, newParseError(c.z.name, ErrTooLarge, fmt.Sprintf("part %s inflates past its declared %d bytes (zip bomb?)", c.part, c.declared), nil)
	case c.z.used > c.z.lim.MaxExpandedBytes:
		return 0, newParseError(c.z.name, ErrTooLarge, fmt.Sprintf("zip content expands past the %d-byte limit", c.z.lim.MaxExpandedBytes), nil)
	case c.n > ratioCheckFloor && c.n > c.z.lim.MaxCompressionRatio*max(c.compressed, 1):
		return 0, newParseError(c.z.name, ErrTooLarge, fmt.Sprintf("part %s expands more than %d times (zip bomb?)", c.part, c.z.lim.MaxCompressionRatio), nil)
	}
	if err != nil && err != io.EOF {
		if errors.Is(err, zip.ErrFormat) {
			// archive/zip reports ErrFormat when an entry inflates past its header's size.
			return n, newParseError(c.z.name, ErrTooLarge, fmt.Sprintf("part %s inflates past its declared %d bytes (zip bomb?)", c.part, c.declared), nil)
		}
		return n, newParseError(c.z.name, ErrMalformed, "read part "+c.part, err)
	}
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }
