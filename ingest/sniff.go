package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// binaryMagic lists signatures of common formats Zhiwen does not read, so
// they are rejected by name instead of being decoded as text.
var binaryMagic = []struct {
	offset int
	magic  string
	what   string
}{
	{0, "\x89PNG\r\n\x1a\n", "a PNG image"},
	{0, "\xff\xd8\xff", "a JPEG image"},
	{0, "GIF87a", "a GIF image"},
	{0, "GIF89a", "a GIF image"},
	{0, "II*\x00", "a TIFF image"},
	{0, "MM\x00*", "a TIFF image"},
	{0, "RIFF", "a RIFF media file (WAV/AVI/WebP)"},
	{4, "ftyp", "an MP4/MOV/HEIC media file"},
	{0, "OggS", "an Ogg media file"},
	{0, "ID3", "an MP3 audio file"},
	{0, "fLaC", "a FLAC audio file"},
	{0, "\x1f\x8b", "a gzip archive"},
	{0, "BZh", "a bzip2 archive"},
	{0, "\xfd7zXZ\x00", "an xz archive"},
	{0, "7z\xbc\xaf\x27\x1c", "a 7-Zip archive"},
	{0, "Rar!\x1a\x07", "a RAR archive"},
	{0, "\x7fELF", "an ELF executable"},
	{0, "\xca\xfe\xba\xbe", "a Java class or Mach-O file"},
	{0, "\xcf\xfa\xed\xfe", "a Mach-O executable"},
	{0, "SQLite format 3\x00", "an SQLite database"},
	{0, "{\\rtf", "an RTF document"},
	{0, "%!PS", "a PostScript file"},
	{0, "wOFF", "a web font"},
	{0, "wOF2", "a web font"},
	{0, "GGUF", "a GGUF model file"},
}

const oleMagic = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

// binaryContainerFormats are formats whose extension promises a binary
// signature; a file with such an extension but other content is damaged.
var binaryContainerFormats = map[string]string{"pdf": "PDF", "docx": "DOCX (zip)", "xlsx": "XLSX (zip)"}

// detectFormat chooses the loader format for a file: strong content
// signatures first, then the extension, then weak text sniffing.
func detectFormat(name string, data []byte, lim Limits) (string, error) {
	head := data[:min(len(data), 4096)]
	if bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-")) {
		return "pdf", nil
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")) {
		return zipFormat(name, data, lim)
	}
	if bytes.HasPrefix(data, []byte(oleMagic)) {
		return "", oleError(name, data)
	}
	if bytes.HasPrefix(data, []byte("MZ")) && len(data) > 0x40 {
		if pe := int(binary.LittleEndian.Uint32(data[0x3c:])); pe >= 0 && pe+4 <= len(data) && string(data[pe:pe+4]) == "PE\x00\x00" {
			return "", newParseError(name, ErrUnsupportedType, "content is a Windows executable", nil)
		}
	}
	for _, m := range binaryMagic {
		if len(data) >= m.offset+len(m.magic) && string(data[m.offset:m.offset+len(m.magic)]) == m.magic {
			return "", newParseError(name, ErrUnsupportedType, "content is "+m.what, nil)
		}
	}
	ext := strings.ToLower(filepath.Ext(name))
	byExtension := formatForExt(ext)
	if what, ok := binaryContainerFormats[byExtension]; ok {
		return "", newParseError(name, ErrMalformed, fmt.Sprintf("the extension says %s but the content has no %s signature", ext, what), nil)
	}
	if byExtension != "markdown" && byExtension != "csv" && looksLikeHTMLDocument(head) {
		return "html", nil
	}
	if byExtension != "" {
		return byExtension, nil
	}
	for _, f := range []string{"html", "markdown", "csv"} {
		if l, ok := loaderFor(f); ok && l.Sniff(head) {
			return f, nil
		}
	}
	return "text", nil
}

// formatForExt returns the format registered for a lower-case extension.
func formatForExt(ext string) string {
	loadersMu.RLock()
	defer loadersMu.RUnlock()
	return byExt[ext]
}

// looksLikeHTMLDocument reports a file that starts, after a BOM, white space
// and comments, with a doctype or an <html> tag.
func looksLikeHTMLDocument(head []byte) bool {
	s := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for {
		s = bytes.TrimLeft(s, " \t\r\n\f")
		if bytes.HasPrefix(s, []byte("<!--")) {
			end := bytes.Index(s, []byte("-->"))
			if end < 0 {
				return false
			}
			s = s[end+3:]
			continue
		}
		if bytes.HasPrefix(s, []byte("<?xml")) {
			end := bytes.Index(s, []byte("?>"))
			if end < 0 {
				return false
			}
			s = s[end+2:]
			continue
		}
		break
	}
	lower := bytes.ToLower(s[:min(len(s), 16)])
	return bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.HasPrefix(lower, []byte("<html"))
}

// zipFormat opens a zip container and names the Office format inside.
func zipFormat(name string, data []byte, lim Limits) (string, error) {
	z, err := openZip(name, data, lim)
	if err != nil {
		return "", err
	}
	switch {
	case z.has("word/document.xml") || z.hasPrefix("word/"):
		return "docx", nil
	case z.has("xl/workbook.xml") || z.hasPrefix("xl/"):
		return "xlsx", nil
	case z.hasPrefix("ppt/"):
		return "", newParseError(name, ErrUnsupportedType, "content is a PowerPoint presentation", nil)
	case z.has("mimetype") && z.hasPrefix("meta-inf/"):
		return "", newParseError(name, ErrUnsupportedType, "content is an OpenDocument or EPUB file", nil)
	case z.has("encryptioninfo") || z.has("encryptedpackage"):
		return "", newParseError(name, ErrEncrypted, "the Office package is encrypted", nil)
	}
	return "", newParseError(name, ErrUnsupportedType, "content is a zip archive that is not a Word or Excel document", nil)
}

// oleError explains why an OLE compound file (the pre-2007 Office container,
// also used for password-protected DOCX/XLSX) cannot be read.
func oleError(name string, data []byte) error {
	streams, err := oleStreamNames(data)
	if err != nil {
		// Fall back to scanning for the stream name when the directory is unreadable.
		if bytes.Contains(data, utf16LE("EncryptedPackage")) {
			return newParseError(name, ErrEncrypted, "a password-protected Office document (OLE EncryptedPackage)", nil)
		}
		return newParseError(name, ErrMalformed, "damaged OLE compound file", err)
	}
	has := func(s string) bool {
		for _, n := range streams {
			if strings.EqualFold(n, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("EncryptedPackage"):
		return newParseError(name, ErrEncrypted, "a password-protected Office document (OLE EncryptedPackage); remove the password and upload again", nil)
	case has("WordDocument"):
		return newParseError(name, ErrUnsupportedType, "a legacy Word 97-2003 .doc file; save it as .docx", nil)
	case has("Workbook"), has("Book"):
		return newParseError(name, ErrUnsupportedType, "a legacy Excel 97-2003 .xls file; save it as .xlsx", nil)
	case has("PowerPoint Document"):
		return newParseError(name, ErrUnsupportedType, "a legacy PowerPoint .ppt file", nil)
	}
	return newParseError(name, ErrUnsupportedType, "an OLE compound file of an unknown kind", nil)
}

func utf16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2*i:], c)
	}
	return out
}

// oleStreamNames reads the directory of a Compound File Binary ([MS-CFB])
// and returns the names of its entries.
func oleStreamNames(data []byte) ([]string, error) {
	if len(data) < 512 {
		return nil, fmt.Errorf("header truncated")
	}
	shift := binary.LittleEndian.Uint16(data[0x1e:])
	if shift != 9 && shift != 12 {
		return nil, fmt.Errorf("bad sector shift %d", shift)
	}
	secSize := 1 << shift
	nSectors := (len(data) - 512) / secSize
	if nSectors <= 0 {
		nSectors = 1
	}
	sector := func(id uint32) ([]byte, bool) {
		off := (int64(id) + 1) * int64(secSize)
		if id >= 0xfffffffa || off+int64(secSize) > int64(len(data)) {
			// A short last sector is allowed; pad with what is there.
			if id < 0xfffffffa && off < int64(len(data)) {
				return data[off:], true
			}
			return nil, false
		}
		return data[off : off+int64(secSize)], true
	}
	// Collect FAT sector IDs from the header's DIFAT array and the DIFAT chain.
	var fatIDs []uint32
	for i := 0; i < 109; i++ {
		id := binary.LittleEndian.Uint32(data[0x4c+4*i:])
		if id < 0xfffffffa {
			fatIDs = append(fatIDs, id)
		}
	}
	difat := binary.LittleEndian.Uint32(data[0x44:])
	for steps := 0; difat < 0xfffffffa && steps < nSectors; steps++ {
		s, ok := sector(difat)
		if !ok {
			return nil, fmt.Errorf("DIFAT sector %d out of range", difat)
		}
		n := len(s)/4 - 1
		for i := 0; i < n; i++ {
			if id := binary.LittleEndian.Uint32(s[4*i:]); id < 0xfffffffa {
				fatIDs = append(fatIDs, id)
			}
		}
		if len(s) < secSize {
			break
		}
		difat = binary.LittleEndian.Uint32(s[secSize-4:])
	}
	var fat []uint32
	for _, id := range fatIDs {
		s, ok := sector(id)
		if !ok {
			return nil, fmt.Errorf("FAT sector %d out of range", id)
		}
		for i := 0; i+4 <= len(s); i += 4 {
			fat = append(fat, binary.LittleEndian.Uint32(s[i:]))
		}
	}
	var names []string
	dir := binary.LittleEndian.Uint32(data[0x30:])
	for steps := 0; dir < 0xfffffffa; steps++ {
		if steps > nSectors {
			return nil, fmt.Errorf("directory chain loops")
		}
		s, ok := sector(dir)
		if !ok {
			return nil, fmt.Errorf("directory sector %d out of range", dir)
		}
		for off := 0; off+128 <= len(s); off += 128 {
			e := s[off : off+128]
			n := int(binary.LittleEndian.Uint16(e[64:]))
			if e[66] == 0 || n < 2 || n > 64 {
				continue
			}
			u := make([]uint16, n/2-1)
			for i := range u {
				u[i] = binary.LittleEndian.Uint16(e[2*i:])
			}
			names = append(names, string(utf16.Decode(u)))
		}
		if int(dir) >= len(fat) {
			break
		}
		dir = fat[dir]
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("empty directory")
	}
	return names, nil
}
