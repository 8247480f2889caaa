// Package ingest turns uploaded files into chunks: it sniffs a file's type,
// parses it with the matching Loader, splits the text into Chinese-aware
// chunks, and runs the whole thing as a cancellable, resumable job that hands
// the chunks to an Index.
package ingest

// BlockKind says what a parsed block of text is.
type BlockKind int

const (
	// Paragraph is running text.
	Paragraph BlockKind = iota
	// Heading is a section title; it also updates the heading path of the blocks after it.
	Heading
	// Table is a table rendered as text, one row per line; Header holds the header row.
	Table
	// Code is preformatted text that must not be re-flowed.
	Code
)

// Block is one unit of parsed text in document order.
type Block struct {
	Kind BlockKind
	// Text is the block's text. For a Table it holds the rows, one per line,
	// each rendered as "header: value; header: value".
	Text string
	// Page is the 1-based page the block starts on; 0 when the format has no pages.
	Page int
	// Headings is the heading path above the block, outermost first.
	Headings []string
	// Level is the heading level (1 = top) for a Heading block.
	Level int
	// Header is a Table's header line, repeated at the top of every chunk
	// that carries rows of the table.
	Header string
}

// Parsed is what a Loader extracts from one file.
type Parsed struct {
	// Title is the document title when the format declares one.
	Title string
	// Format is the loader's name: "pdf", "docx", "xlsx", "csv", "markdown", "html", "text".
	Format string
	// Pages is the page count for paged formats, else 0.
	Pages int
	// Blocks are the document's contents in reading order.
	Blocks []Block
	// Warnings are non-fatal problems found while parsing (a page that
	// extracted as garbage, an unreadable sheet), for showing to the admin.
	Warnings []string
}

// Document describes one stored file in a knowledge base.
type Document struct {
	// ID is stable across versions of the same file in a knowledge base.
	ID string `json:"id"`
	// KB is the knowledge base the document belongs to.
	KB string `json:"kb"`
	// Name is the file name as uploaded.
	Name string `json:"name"`
	// Format is the loader that parsed it.
	Format string `json:"format"`
	// Hash is the hex SHA-256 of the file's bytes; identical content is not re-ingested.
	Hash string `json:"hash"`
	// Size is the file size in bytes.
	Size int64 `json:"size"`
	// Pages is the page count for paged formats.
	Pages int `json:"pages,omitempty"`
	// Meta holds user metadata usable in search filters.
	Meta map[string]string `json:"meta,omitempty"`
}

// Chunk is a piece of a document small enough to index and to show as a citation.
type Chunk struct {
	// ID is unique within the knowledge base.
	ID string `json:"id"`
	// DocID is the owning document's ID.
	DocID string `json:"doc_id"`
	// Seq is the chunk's position in its document, from 0.
	Seq int `json:"seq"`
	// Text is what gets indexed and shown.
	Text string `json:"text"`
	// Page is the 1-based page the chunk starts on; 0 when unpaged.
	Page int `json:"page,omitempty"`
	// Headings is the heading path above the chunk, outermost first.
	Headings []string `json:"headings,omitempty"`
	// Start and End are rune offsets of the chunk's source span in the
	// document's joined text (see Parsed.Text).
	Start int `json:"start"`
	End   int `json:"end"`
}
