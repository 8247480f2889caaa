package ingest

import (
	"errors"
	"strings"
)

// Error classes returned by Parse. Every error Parse returns for bad input is
// a *ParseError whose Kind is one of these, so callers can test the class
// with errors.Is and read the file name and reason with errors.As.
var (
	// ErrUnsupportedType means the file's content is not a format Zhiwen can read
	// (an image, an executable, a legacy .doc, binary data named .txt).
	ErrUnsupportedType = errors.New("unsupported file type")
	// ErrTooLarge means the file, or what it expands to, exceeds the Limits.
	ErrTooLarge = errors.New("file too large")
	// ErrEncrypted means the file is password-protected.
	ErrEncrypted = errors.New("file is encrypted")
	// ErrMalformed means the file claims a supported format but is damaged.
	ErrMalformed = errors.New("malformed file")
	// ErrEmpty means the file parsed but holds no text.
	ErrEmpty = errors.New("no text found")
)

// ParseError describes why one file could not be parsed.
type ParseError struct {
	// Name is the file name.
	Name string
	// Kind is the error class: ErrUnsupportedType, ErrTooLarge, ErrEncrypted, ErrMalformed or ErrEmpty.
	Kind error
	// Reason says what exactly is wrong, for people.
	Reason string
	// Cause is the underlying error, if any.
	Cause error
}

// Error renders "parse NAME: KIND: REASON: CAUSE".
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("parse ")
	b.WriteString(e.Name)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap exposes both the class and the cause to errors.Is and errors.As.
func (e *ParseError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

func newParseError(name string, kind error, reason string, cause error) *ParseError {
	return &ParseError{Name: name, Kind: kind, Reason: reason, Cause: cause}
}
