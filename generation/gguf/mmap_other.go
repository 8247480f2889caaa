//go:build !unix

package gguf

import (
	"fmt"
	"io"
	"os"
)

// mapFile reads the whole file into memory on systems without mmap support
// in this package.
func mapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	if size < 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file size %d cannot be loaded", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(fh, data); err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	return data, func() error { return nil }, nil
}

// mapsFiles reports that Open reads files into memory here.
const mapsFiles = false

// releasePages does nothing where files are read into memory.
func releasePages([]byte) {}
